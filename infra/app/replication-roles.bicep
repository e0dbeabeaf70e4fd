// Roles of one source account's system topic on the app's storage (deployed into the app's
// resource group): put events on the replication queue, and write the events it could not
// deliver into the dead-letter container. Both scoped to that one queue and that one container.
param storageAccountName string
param queueName string
param deadLetterContainerName string
@description('Principal ID of the system topic\'s system-assigned identity.')
param principalId string
@description('Name of the system topic, for the assignments\' descriptions.')
param topicName string

// Storage Queue Data Message Sender
var storageQueueDataMessageSenderRoleId = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
// Storage Blob Data Contributor
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource queue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: queueService
  name: queueName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  parent: blobService
  name: deadLetterContainerName
}

// Data actions: queueServices/queues/messages/add/action (Put Message) and nothing else: the
// topic delivers, it never reads or deletes. The role Event Grid names for a queue destination.
resource topicQueueRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(queue.id, principalId, storageQueueDataMessageSenderRoleId)
  scope: queue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataMessageSenderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Durable blob copy: ${topicName} delivers blob events to ${queueName}'
  }
}

// Data actions: blobServices/containers/blobs/write (Put Blob of a dead-letter file), with read,
// delete, add/action, move/action that come with the role. The role Event Grid names for a blob
// dead-letter destination; no built-in role writes blobs with less, and the scope is the one
// dead-letter container, which holds nothing but undelivered events.
resource topicDeadLetterRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetterContainer.id, principalId, storageBlobDataContributorRoleId)
  scope: deadLetterContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Durable blob copy: ${topicName} dead-letters undelivered events into ${deadLetterContainerName}'
  }
}
