// The Event Grid system topic of one existing source account (deployed into that account's
// resource group): the account publishes its blob events here, and the replication
// subscriptions (replication-subscriptions.bicep) pick them up. Event Grid allows one system
// topic per source; its region must be the account's.
param accountName string
@description('Name of the system topic; the name of the account\'s existing system topic, when it has one, to adopt it.')
param topicName string
param tags object = {}
@description('Resource ID of the Log Analytics workspace that gets the topic\'s delivery failures.')
param workspaceId string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: accountName
}

// System-assigned identity: the only kind Event Grid may deliver with into a storage account that
// has firewall rules (the app's storage with vnetEnabled), and one principal per source account,
// so the roles in replication-roles.bicep name exactly what each topic may do.
resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: topicName
  location: account.location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    source: account.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// Why an event did not reach the queue (a 403 while a role is not yet in effect, a queue
// missing, throttling) lands beside the app's logs, in table AegDeliveryFailureLogs.
resource deliveryFailureLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'blobcopy-delivery-failures'
  scope: topic
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'DeliveryFailures'
        enabled: true
      }
    ]
  }
}

output name string = topic.name
output principalId string = topic.identity.principalId
