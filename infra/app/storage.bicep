// The app's own storage: Functions host state, the Durable task hub (queues, tables, blobs) and
// the Flex Consumption deployment package. Reached only with the app's identity: shared keys and
// local users are off, so no connection string for it exists.
param name string
param location string
param tags object = {}
param deploymentContainerName string
param vnetEnabled bool = false
@description('The queue Event Grid delivers blob events to (BLOBCOPY_REPLICATION_QUEUE); its -rejected and -poison queues and its -deadletter container come with it.')
param replicationQueueName string = 'blob-events'
@description('Event Grid writes into this account (replication rules exist): with vnetEnabled, the public endpoint stays open to trusted Azure services only, instead of closed.')
param eventGridDelivery bool = false

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
@description('Replication of the host storage; ZRS where the region offers it and zone redundancy matters.')
param skuName string = 'Standard_LRS'

// Closed with a VNet, unless Event Grid must deliver (see networkAcls below). A variable, not an
// inline '!x && y ? :', which pycep reads as '!(y ? :)'.
var publicEndpointClosed = vnetEnabled && !eventGridDelivery

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: Default action is Deny when vnetEnabled; without a VNet a Flex app has no fixed outbound address to allow, and access is Entra ID only (no keys, no SAS).
  // checkov:skip=CKV_AZURE_206: Host storage holds the transient task-hub state of a regional app; geo-replication cannot fail the app over and doubles the cost. skuName offers ZRS.
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    isLocalUserEnabled: false
    isSftpEnabled: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    dnsEndpointType: 'Standard'
    // Event Grid never delivers through a private endpoint; past a firewall only as a trusted service
    // with a system-assigned identity ("Storage queue as an event handler"). So with vnetEnabled and
    // replication rules the public endpoint stays on, default Deny + AzureServices bypass: only
    // trusted Azure services holding a role here get in. (4 lines: checkov can't parse 5 here.)
    publicNetworkAccess: publicEndpointClosed ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
      bypass: eventGridDelivery ? 'AzureServices' : 'None'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

// The app's own queues exist from deployment on, so producers can send before the first message
// and the results queue is there for the first copy: the trigger's queue (shared/api.py), the
// default BLOBCOPY_RESULTS_QUEUE (shared/settings.py), and the host's poison queue for the trigger;
// then the replication trigger's queue (Event Grid's destination, which must exist before an event
// subscription delivers to it), where it sets unreadable events aside (shared/replication.py), and
// its poison queue.
var appQueueNames = [
  'copy-requests'
  'copy-results'
  'copy-requests-poison'
  replicationQueueName
  '${replicationQueueName}-rejected'
  '${replicationQueueName}-poison'
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource appQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in appQueueNames: {
  parent: queueService
  name: queueName
}]

// Where Event Grid puts the events it could not deliver to the replication queue (as JSON blobs
// <container>/<SUBSCRIPTION NAME>/<y>/<m>/<d>/<h>/<guid>.json). It exists with or without rules,
// so a subscription added by hand (an account in another Azure subscription) has it too.
resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: '${replicationQueueName}-deadletter'
  properties: {
    publicAccess: 'None'
  }
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output deadLetterContainerName string = deadLetterContainer.name
