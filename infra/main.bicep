// Durable blob copy: everything `azd up` deploys.
// A Flex Consumption Function App (Python 3.11) with one user-assigned identity, its own storage
// account reached through that identity only, Application Insights on Log Analytics, and the
// least data-plane roles on the source and destination accounts the app copies between.
// Written in the Bicep grammar checkov's bundled parser reads: no `import`, `@export()`, `func`,
// `deployer()`, user-defined types, lambdas, or `br/public:` modules (checkov can't see inside them).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; feeds the short unique token in every resource name.')
param environmentName string

@minLength(1)
@description('Region of every resource; must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Integrate the app with a new VNet and reach its own storage through private endpoints only.')
param vnetEnabled bool = false

@description('Define two custom roles holding exactly the data actions a copy needs (needs Microsoft.Authorization/roleDefinitions/write on the subscription). false: fall back to the least built-in roles.')
param useCustomRoles bool = true

@description('The app leases sources while it copies them (lease policy renewed or infinite). Leasing needs blobs/write on the source; false grants read-only access.')
param sourceLeaseEnabled bool = true

@description('Existing accounts the app may copy from: [{ "name": "stsource", "resourceGroup": "rg-data" }]; resourceGroup defaults to this deployment\'s group. A replication rule\'s source gets an Event Grid system topic, egst-<name>, or "systemTopicName": the account\'s existing one (Event Grid allows one per account).')
param sourceAccounts array = []

@description('Existing accounts the app may copy to: [{ "name": "stdest", "resourceGroup": "rg-data", "containers": [ "backups" ] }]; with containers, roles are granted on those containers only; without, on the whole account.')
param destinationAccounts array = []

@description('Replication rules, written as given into BLOBCOPY_REPLICATION_RULES (fields: shared/replication_rules.py): [{ "name": "logs", "source": { "account": "stsource", "container": "data", "prefix": "logs/", "suffix": ".csv" }, "destination": { "account": "stdest", "container": "data" } }]. Each source.account must be in sourceAccounts; it gets a system topic, and each rule an event subscription to the replication queue ("deletes": true adds BlobDeleted).')
param replicationRules array = []

// 52 at most: '<queue>-deadletter' (the dead-letter container) must still be a 63-character name.
@minLength(3)
@maxLength(52)
@description('The queue Event Grid delivers blob events to and the app listens on (BLOBCOPY_REPLICATION_QUEUE).')
param replicationQueueName string = 'blob-events'

@description('Require a Microsoft Entra ID token on every request (App Service Authentication), so callers use their managed identity instead of a function key.')
param authEnabled bool = false

@description('Application (client) ID of the Entra app registration that represents this API; the audience of the tokens callers present. Required when authEnabled.')
param authClientId string = ''

@description('Client IDs (appid) of the managed identities, Logic Apps and services allowed to call the API; empty: any principal of the tenant holding a token for the audience.')
param authAllowedClientApplications array = []

// Bounds from the Flex docs ("Limit scale-out": lowest maximum 1, highest 1000; older preview docs and
// the Flex sample said 40). The limit applies per function scale group, not to the whole app.
@minValue(1)
@maxValue(1000)
@description('Flex Consumption maximum on-demand instances per function scale group (HTTP, Durable, and each queue-triggered function scale separately), not a ceiling for the app as a whole.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Memory per instance, MB. The app never reads blob content, so the smallest size serves.')
param instanceMemoryMB int = 2048

@description('Durable Functions task hub name (host.json reads it through %TASKHUB_NAME% when set there).')
param taskHubName string = 'BlobCopyHub'

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = '${abbrs.webSitesFunctions}blobcopy-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 12)}'
var vnetName = '${abbrs.networkVirtualNetworks}${resourceToken}'

// Built-in roles used when custom roles are not allowed.
// Storage Blob Data Contributor: blobs read/write/delete/add/move + generateUserDelegationKey.
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
// Storage Blob Data Reader: blobs/read + generateUserDelegationKey (what a copy without a lease needs).
var storageBlobDataReaderRoleId = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? '${abbrs.resourcesResourceGroups}${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

// Custom role for source accounts: read the blob, lease it, and sign a user delegation SAS.
// Lease Blob is authorized by blobs/write (no narrower data action exists), so this role is
// Storage Blob Data Contributor minus blobs/delete, blobs/add/action, blobs/move/action and the
// container-level control-plane actions.
resource copySourceRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (useCustomRoles && sourceLeaseEnabled) {
  name: guid(subscription().id, 'blobcopy-source', resourceToken)
  properties: {
    roleName: 'Blob copy source (${environmentName}-${resourceToken})'
    description: 'Durable blob copy: read and lease source blobs, get a user delegation key for a read-only SAS.'
    type: 'CustomRole'
    permissions: [
      {
        actions: [
          'Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action'
        ]
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write'
        ]
        notDataActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

// Custom role for destination containers: start, poll and abort a copy onto a blob.
// Copy Blob, Abort Copy Blob and Snapshot Blob need blobs/write; Get Blob Properties (poll,
// verify) needs blobs/read; blobs/delete drops the safety snapshot of snapshot_destination and
// removes a destination that an aborted copy created. No container actions, no user delegation key.
resource copyDestinationRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = if (useCustomRoles) {
  name: guid(subscription().id, 'blobcopy-destination', resourceToken)
  properties: {
    roleName: 'Blob copy destination (${environmentName}-${resourceToken})'
    description: 'Durable blob copy: start, poll and abort copies onto destination blobs.'
    type: 'CustomRole'
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write'
          'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete'
        ]
        notDataActions: []
      }
    ]
    assignableScopes: [
      subscription().id
    ]
  }
}

var sourceRoleId = sourceLeaseEnabled ? (useCustomRoles ? copySourceRole.name : storageBlobDataContributorRoleId) : storageBlobDataReaderRoleId
var sourceRoleName = sourceLeaseEnabled ? (useCustomRoles ? 'Blob copy source (custom)' : 'Storage Blob Data Contributor') : 'Storage Blob Data Reader'
var destinationRoleId = useCustomRoles ? copyDestinationRole.name : storageBlobDataContributorRoleId
var destinationRoleName = useCustomRoles ? 'Blob copy destination (custom)' : 'Storage Blob Data Contributor'

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}blobcopy-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module network 'app/vnet.bicep' = if (vnetEnabled) {
  name: 'network'
  scope: rg
  params: {
    vnetName: vnetName
    nsgName: '${abbrs.networkNetworkSecurityGroups}${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    vnetEnabled: vnetEnabled
    replicationQueueName: replicationQueueName
    eventGridDelivery: !empty(replicationRules)
  }
}

module storagePrivateEndpoints 'app/storage-private-endpoints.bicep' = if (vnetEnabled) {
  name: 'storagePrivateEndpoints'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    vnetName: vnetName
    subnetName: vnetEnabled ? network.outputs.privateEndpointSubnetName : ''
    namePrefix: abbrs.networkPrivateEndpoints
    location: location
    tags: tags
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    principalId: identity.outputs.principalId
  }
}

module sourceAccess 'app/source-access.bicep' = [for source in sourceAccounts: {
  name: 'source-access-${source.name}'
  scope: resourceGroup((source.?resourceGroup) ?? rg.name)
  params: {
    accountName: source.name
    principalId: identity.outputs.principalId
    roleDefinitionId: sourceRoleId
    roleName: sourceRoleName
  }
  dependsOn: [
    copySourceRole
  ]
}]

module destinationAccess 'app/destination-access.bicep' = [for destination in destinationAccounts: {
  name: 'destination-access-${destination.name}'
  scope: resourceGroup((destination.?resourceGroup) ?? rg.name)
  params: {
    accountName: destination.name
    containers: (destination.?containers) ?? []
    principalId: identity.outputs.principalId
    roleDefinitionId: destinationRoleId
    roleName: destinationRoleName
  }
  dependsOn: [
    copyDestinationRole
  ]
}]

// Replication: per source account that a rule listens on, an Event Grid system topic (in the
// account's group), its roles on the app's queue and dead-letter container (in the app's group),
// then one event subscription per rule (beside the topic). The subscriptions wait for the roles:
// Event Grid does not retry a 403, it dead-letters the event at once. A rule naming an account
// not in sourceAccounts gets no topic here, and the app refuses the rule at start-up
// ("is not in BLOBCOPY_ACCOUNTS").
var ruleSourceAccountNames = [for rule in replicationRules: rule.source.account]

module replicationTopics 'app/replication-topic.bicep' = [for source in sourceAccounts: if (contains(ruleSourceAccountNames, source.name)) {
  name: 'replication-topic-${source.name}'
  scope: resourceGroup((source.?resourceGroup) ?? rg.name)
  params: {
    accountName: source.name
    topicName: (source.?systemTopicName) ?? '${abbrs.eventGridSystemTopics}${source.name}'
    tags: tags
    workspaceId: monitoring.outputs.logAnalyticsId
  }
}]

module replicationRoles 'app/replication-roles.bicep' = [for (source, i) in sourceAccounts: if (contains(ruleSourceAccountNames, source.name)) {
  name: 'replication-roles-${source.name}'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    queueName: replicationQueueName
    deadLetterContainerName: storage.outputs.deadLetterContainerName
    principalId: replicationTopics[i].outputs.principalId
    topicName: replicationTopics[i].outputs.name
  }
}]

module replicationSubscriptions 'app/replication-subscriptions.bicep' = [for (source, i) in sourceAccounts: if (contains(ruleSourceAccountNames, source.name)) {
  name: 'replication-subscriptions-${source.name}'
  scope: resourceGroup((source.?resourceGroup) ?? rg.name)
  params: {
    accountName: source.name
    topicName: replicationTopics[i].outputs.name
    rules: replicationRules
    storageAccountId: storage.outputs.id
    queueName: replicationQueueName
    deadLetterContainerName: storage.outputs.deadLetterContainerName
  }
  dependsOn: [
    replicationRoles
  ]
}]

// The accounts the app talks to (api.bicep writes their settings) and the destination allowlist.
var sourceAccountNames = [for source in sourceAccounts: source.name]
var destinationAccountNames = [for destination in destinationAccounts: destination.name]
var copyAccountNames = union(sourceAccountNames, destinationAccountNames)
// One entry per container ('acct/c1,acct/c2'), or the account name alone when no container is listed.
var destinationAllowlistParts = [for destination in destinationAccounts: empty((destination.?containers) ?? []) ? destination.name : format('{0}/{1}', destination.name, join((destination.?containers) ?? [], format(',{0}/', destination.name)))]

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    virtualNetworkSubnetId: vnetEnabled ? network.outputs.appSubnetId : ''
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    taskHubName: taskHubName
    copyAccountNames: copyAccountNames
    // Each account's own blob endpoint as ARM reports it (an account on an Azure DNS zone endpoint
    // has no <name>.blob.<suffix> host), read by the access modules in the account's group.
    sourceAccountEndpoints: [for (source, i) in sourceAccounts: {
      name: source.name
      blobEndpoint: sourceAccess[i].outputs.blobEndpoint
    }]
    destinationAccountEndpoints: [for (destination, i) in destinationAccounts: {
      name: destination.name
      blobEndpoint: destinationAccess[i].outputs.blobEndpoint
    }]
    // '-' names no storage account (3-24 lowercase letters and digits): with no destination the
    // app may write nowhere, instead of falling back to its default '*' (every configured account).
    destinationAllowlist: empty(destinationAllowlistParts) ? '-' : join(destinationAllowlistParts, ',')
    authEnabled: authEnabled
    authClientId: authClientId
    authAllowedClientApplications: authAllowedClientApplications
    replicationRules: replicationRules
    replicationQueueName: replicationQueueName
  }
  dependsOn: [
    rbac
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output BLOBCOPY_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output BLOBCOPY_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
