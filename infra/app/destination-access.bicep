// The app's role on one existing destination account (deployed into that account's resource
// group): on each listed container, or on the whole account when no container is listed.
param accountName string
@description('Containers the app may write to; empty: the whole account.')
param containers array = []
param principalId string
@description('GUID of the role to assign: the custom destination role or Storage Blob Data Contributor (main.bicep picks).')
param roleDefinitionId string
@description('Human name of that role, for the assignment description.')
param roleName string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: account
  name: 'default'
}

resource destinationContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = [for container in containers: {
  parent: blobService
  name: container
}]

// Data actions: blobServices/containers/blobs/write (Copy Blob, Abort Copy Blob, Snapshot Blob),
// blobServices/containers/blobs/read (Get Blob Properties: copy status, progress, verification),
// blobServices/containers/blobs/delete (snapshot_destination: drop the safety snapshot, remove a
// destination an aborted copy created).
resource containerRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (container, i) in containers: {
  name: guid(destinationContainers[i].id, principalId, roleDefinitionId)
  scope: destinationContainers[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Durable blob copy destination: ${roleName}'
  }
}]

// Data actions: blobServices/containers/blobs/write (Copy Blob, Abort Copy Blob, Snapshot Blob),
// blobServices/containers/blobs/read (Get Blob Properties: copy status, progress, verification),
// blobServices/containers/blobs/delete (snapshot_destination: drop the safety snapshot, remove a
// destination an aborted copy created).
resource accountRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (empty(containers)) {
  name: guid(account.id, principalId, roleDefinitionId)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Durable blob copy destination: ${roleName}'
  }
}

output blobEndpoint string = account.properties.primaryEndpoints.blob
