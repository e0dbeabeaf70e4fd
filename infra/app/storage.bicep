// The app's own storage: Functions host state, the Durable task hub (queues, tables, blobs) and
// the Flex Consumption deployment package. Reached only with the app's identity: shared keys and
// local users are off, so no connection string for it exists.
param name string
param location string
param tags object = {}
param deploymentContainerName string
param vnetEnabled bool = false

@allowed([
  'Standard_LRS'
  'Standard_ZRS'
])
@description('Replication of the host storage; ZRS where the region offers it and zone redundancy matters.')
param skuName string = 'Standard_LRS'

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
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: vnetEnabled ? 'Deny' : 'Allow'
      bypass: 'None'
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
// default BLOBCOPY_RESULTS_QUEUE (shared/settings.py), and the host's poison queue for the trigger.
var appQueueNames = [
  'copy-requests'
  'copy-results'
  'copy-requests-poison'
]

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource appQueues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in appQueueNames: {
  parent: queueService
  name: queueName
}]

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
