// One Event Grid subscription per replication rule of one source account (deployed into that
// account's resource group, beside its system topic): the rule's blob events, filtered by
// Event Grid to the rule's container, prefix and suffix, go onto the app's replication queue,
// delivered with the topic's own identity; what cannot be delivered goes to a dead-letter container.
param accountName string
param topicName string
@description('Every replication rule (BLOBCOPY_REPLICATION_RULES); this module subscribes those whose source.account is accountName.')
param rules array
@description('Resource ID of the app\'s storage account, which holds the queue and the dead-letter container.')
param storageAccountId string
param queueName string
param deadLetterContainerName string

// Only the writes that leave a blob complete: Put Blob, Put Block List and Copy Blob, and on
// hierarchical-namespace and SFTP accounts the Flush / Commit that ends a file (Create File and
// SftpCreate also raise BlobCreated, for a still-empty file). The list Azure Storage's "Reacting
// to Blob storage events" recommends; the deletes are those of the three APIs.
var committedWriteApis = [
  'CopyBlob'
  'PutBlob'
  'PutBlockList'
  'FlushWithClose'
  'SftpCommit'
]
var deleteApis = [
  'DeleteBlob'
  'DeleteFile'
  'SftpRemove'
]

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: topicName
}

// The name before the path: pycep (tests/unit) reads 'a.b == c' as 'a.(b == c)'.
resource subscriptions 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = [for rule in rules: if (accountName == rule.source.account) {
  parent: topic
  name: 'blobcopy-${rule.name}'
  properties: {
    // Event Grid schema: what the system topic publishes (no conversion), what the portal and
    // `az eventgrid event-subscription create` deliver by default, so a subscription made by hand
    // for an account outside this deployment writes the same messages; the app reads both.
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: ((rule.?deletes) ?? false) ? [
        'Microsoft.Storage.BlobCreated'
        'Microsoft.Storage.BlobDeleted'
      ] : [
        'Microsoft.Storage.BlobCreated'
      ]
      // The rule's own range; an empty prefix still ends at 'blobs/', so the container is exact.
      subjectBeginsWith: '/blobServices/default/containers/${rule.source.container}/blobs/${(rule.source.?prefix) ?? ''}'
      subjectEndsWith: (rule.source.?suffix) ?? ''
      // Blob names are case-sensitive, and so is the app's own match (shared/replication_rules.py).
      isSubjectCaseSensitive: true
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.api'
          values: ((rule.?deletes) ?? false) ? concat(committedWriteApis, deleteApis) : committedWriteApis
        }
      ]
    }
    deliveryWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      destination: {
        endpointType: 'StorageQueue'
        properties: {
          resourceId: storageAccountId
          queueName: queueName
          // Never expire: the queue is the app's backlog, and a message that expires unread is a
          // replication lost without trace (the queue's default is 7 days).
          queueMessageTimeToLiveInSeconds: -1
        }
      }
    }
    // The most Event Grid allows (30 attempts, 24 hours): a queue refuses only while throttled
    // or unreachable. Then, and at once on a 403 (a role not yet in effect), the dead-letter container.
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'SystemAssigned'
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: storageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}]
