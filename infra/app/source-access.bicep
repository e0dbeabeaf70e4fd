// The app's role on one existing source account (deployed into that account's resource group).
// Account scope, not container: Get User Delegation Key acts on the whole blob service, and
// generateUserDelegationKey/action only works when assigned at account scope or above.
param accountName string
param principalId string
@description('GUID of the role to assign: the custom source role, Storage Blob Data Contributor, or Storage Blob Data Reader (main.bicep picks).')
param roleDefinitionId string
@description('Human name of that role, for the assignment description.')
param roleName string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}

// Data actions: blobServices/containers/blobs/read (Get Blob Properties, the copy's SAS reads),
// blobServices/containers/blobs/write (Lease Blob: acquire, renew, release; omitted when
// sourceLeaseEnabled is false); action blobServices/generateUserDelegationKey/action (user delegation SAS).
resource sourceRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, principalId, roleDefinitionId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Durable blob copy source: ${roleName}'
  }
}

output blobEndpoint string = account.properties.primaryEndpoints.blob
