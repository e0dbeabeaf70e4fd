// App Service Authentication (Easy Auth) with Microsoft Entra ID on the Function App: a request
// needs a token issued by this tenant for the API's app registration (audience clientId or
// api://clientId) and, when the list is set, obtained by one of the allowed client applications
// (a caller's managed identity client ID, a Logic App's identity). The platform validates tokens
// before the Functions host sees the request; callers need no function key.
param siteName string

@description('Application (client) ID of the API\'s Entra app registration.')
@minLength(36)
param clientId string

@description('Client IDs (appid) allowed to call; empty: any client of the tenant with a token for this audience.')
param allowedClientApplications array = []

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: siteName
}

resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov treats every Microsoft.Web/sites/config as the site's "web" config; this one is authsettingsV2:
  // checkov:skip=CKV_AZURE_13: false positive: this resource IS the App Service Authentication setting.
  // checkov:skip=CKV_AZURE_63: false positive: HTTP logging is a "web" config property, not an authsettingsV2 one.
  // checkov:skip=CKV_AZURE_65: false positive: detailed error messages are a "web" config property.
  // checkov:skip=CKV_AZURE_66: false positive: failed request tracing is a "web" config property.
  // checkov:skip=CKV_AZURE_80: false positive: .NET Framework version; the app is Python and this is not the "web" config.
  // checkov:skip=CKV_AZURE_88: false positive: Azure Files mounts; Flex Consumption keeps its package in blob storage.
  // checkov:skip=CKV_AZURE_222: false positive: public network access is a site property (see api.bicep).
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: clientId
          // v2.0 issuer: the registration must issue v2 tokens (api.requestedAccessTokenVersion = 2,
          // docs/deploy.md), or tokens carry the v1 issuer https://sts.windows.net/<tenant>/.
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            clientId
            'api://${clientId}'
          ]
          defaultAuthorizationPolicy: {
            allowedApplications: allowedClientApplications
          }
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}
