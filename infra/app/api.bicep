// The Function App on the Flex Consumption plan (Python 3.11), its identity-based settings, and
// optional App Service Authentication with Microsoft Entra ID.
param name string
param planName string
param location string
param tags object = {}
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
@description('Subnet delegated to Microsoft.App/environments; empty: no VNet integration.')
param virtualNetworkSubnetId string = ''
param maximumInstanceCount int = 100
param instanceMemoryMB int = 2048
param taskHubName string
@description('Names of the source and destination storage accounts (BLOBCOPY_ACCOUNTS).')
param copyAccountNames array = []
@description('[{ name, blobEndpoint }] of each source account: its primaryEndpoints.blob.')
param sourceAccountEndpoints array = []
@description('[{ name, blobEndpoint }] of each destination account: its primaryEndpoints.blob.')
param destinationAccountEndpoints array = []
@description('BLOBCOPY_ALLOWED_DESTINATIONS: comma-separated account or account/container entries; \'-\': no destination.')
param destinationAllowlist string = '-'
param authEnabled bool = false
param authClientId string = ''
param authAllowedClientApplications array = []
@description('BLOBCOPY_REPLICATION_RULES, as main.bicep\'s replicationRules gives them.')
param replicationRules array = []
@description('BLOBCOPY_REPLICATION_QUEUE: the queue the Event Grid subscriptions deliver to.')
param replicationQueueName string = 'blob-events'

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy is offered per region only; instances hold no state (the task hub is in storage), so a zone loss costs in-flight executions, which Durable replays.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

// Identity-based connections only: the host, Durable Functions and the app's own clients all
// use the user-assigned identity (AzureWebJobsStorage__credential/__clientId, AZURE_CLIENT_ID for
// DefaultAzureCredential). The service URIs name the same account as __accountName; the app reads
// __queueServiceUri for its results queue (shared/settings.py).
var baseAppSettings = [
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storageAccountName
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: storage.properties.primaryEndpoints.blob
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: storage.properties.primaryEndpoints.queue
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: storage.properties.primaryEndpoints.table
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: applicationInsights.properties.ConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'TASKHUB_NAME'
    value: taskHubName
  }
  {
    // With Entra ID auth in front, the HTTP routes need no function key (function_app.py reads it).
    name: 'BLOBCOPY_HTTP_AUTH_LEVEL'
    value: authEnabled ? 'anonymous' : 'function'
  }
  {
    name: 'BLOBCOPY_ACCOUNTS'
    value: join(copyAccountNames, ',')
  }
  {
    name: 'BLOBCOPY_ALLOWED_DESTINATIONS'
    value: destinationAllowlist
  }
  {
    // The same list the Event Grid subscriptions were made from, so the app's rules and the
    // events delivered to it agree (JSON; '[]': no rules).
    name: 'BLOBCOPY_REPLICATION_RULES'
    value: string(replicationRules)
  }
  {
    name: 'BLOBCOPY_REPLICATION_QUEUE'
    value: replicationQueueName
  }
]

// The app's per-account settings (shared/settings.py): each account's blob endpoint as the account
// reports it (primaryEndpoints.blob, right for DNS-zone endpoints too) and the identity to reach it
// with; managed identity + user delegation SAS. union() drops an account listed as source and as
// destination a second time (same name, same endpoint), so no setting appears twice.
var copyAccountEndpoints = union(sourceAccountEndpoints, destinationAccountEndpoints)
var accountUrlSettings = [for account in copyAccountEndpoints: {
  name: 'BLOBCOPY_ACCOUNT_${toUpper(account.name)}_URL'
  value: account.blobEndpoint
}]
var accountClientIdSettings = [for accountName in copyAccountNames: {
  name: 'BLOBCOPY_ACCOUNT_${toUpper(accountName)}_CLIENT_ID'
  value: identityClientId
}]

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: Client certificates would shut out the callers this API serves (Logic Apps, services with a managed identity); they authenticate with an Entra ID token (authEnabled) or a function key.
  // checkov:skip=CKV_AZURE_212: Flex Consumption has no fixed instance count: the platform scales from zero up to maximumInstanceCount.
  // checkov:skip=CKV_AZURE_213: App Service health check evicts instances of a fixed-size plan; Flex Consumption instances are platform-managed and the API has no health route.
  // checkov:skip=CKV_AZURE_222: The API is called over its public HTTPS endpoint by other cloud services and Logic Apps; every route needs an Entra ID token or a function key.
  // checkov:skip=CKV_AZURE_78: Flex Consumption rejects siteConfig.ftpsState (ARM error 51021; Functions app settings reference, "Flex Consumption plan deprecations": FTPS not supported); FTP is off through the ftp basicPublishingCredentialsPolicies below.
  // checkov:skip=CKV_AZURE_18: siteConfig.http20Enabled is left out: Microsoft's Flex Consumption templates set no HTTP version, and an unlisted siteConfig property risks ARM error 51021 on Flex.
  // checkov:skip=CKV_AZURE_67: Same as CKV_AZURE_18 (the Function App variant of the HTTP version check): http20Enabled is not set on a Flex Consumption site.
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    // Only what Microsoft's Flex Consumption templates set: Flex rejects many siteConfig properties
    // (ARM error 51021, e.g. ftpsState) and deprecates others; tests/unit/test_infra_flex.py holds the list.
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: concat(baseAppSettings, accountUrlSettings, accountClientIdSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// No publishing passwords: azd deploys with an Entra ID token.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

// App Service Authentication with Microsoft Entra ID (authEnabled): see auth.bicep.
module auth 'auth.bicep' = if (authEnabled) {
  name: '${name}-auth'
  params: {
    siteName: site.name
    clientId: authClientId
    allowedClientApplications: authAllowedClientApplications
  }
}

output name string = site.name
output uri string = 'https://${site.properties.defaultHostName}'
