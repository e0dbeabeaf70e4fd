// The Event Grid system topic of one existing source account (deployed into that account's
// resource group): the account publishes its blob events here, and the replication
// subscriptions (replication-subscriptions.bicep) pick them up. Event Grid allows one system
// topic per source; its region must be the account's.
param accountName string
@description('Name of the system topic; the name of the account\'s existing system topic, when it has one, to adopt it.')
param topicName string
param tags object = {}

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

output name string = topic.name
output principalId string = topic.identity.principalId
