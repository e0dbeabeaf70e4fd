"""Flex Consumption: no app setting or site property the plan deprecates or rejects.

Parsing and checkov accept `siteConfig.ftpsState`; Flex Consumption answers it with ARM error
51021 ("The following site configuration property (Site.SiteConfig.FtpsState) for Flex
Consumption sites is invalid", microsoft/azure-pipelines-tasks#21032). These lists make the next
such property fail `make test` instead of `azd up`.

Source of the lists: Microsoft's "App settings reference for Azure Functions", section "Flex
Consumption plan deprecations" (learn.microsoft.com/azure/azure-functions/functions-app-settings
#flex-consumption-plan-deprecations, as of ms.date 2025-12-22), plus the "Considerations" of
"Azure Functions Flex Consumption plan hosting" (flex-consumption-plan#considerations: time zones,
certificates) and the properties ARM 51021 names in public reports
(Azure/terraform-azurerm-avm-res-web-site#360). Property names are checked against the
published ARM models in `azure-mgmt-web` (SiteConfig and Site properties).
"""

from __future__ import annotations

from typing import Any

import azure.mgmt.web.models as web_models
import pytest

from tests.unit.test_infra import BICEP_FILES, INFRA, app_settings, parsed, rel, resources_of_type

# "Flex Consumption plan deprecations": the application settings.
FLEX_DEPRECATED_APP_SETTINGS = frozenset(
    {
        "ENABLE_ORYX_BUILD",
        "FUNCTIONS_EXTENSION_VERSION",
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_WORKER_RUNTIME_VERSION",
        "FUNCTIONS_MAX_HTTP_CONCURRENCY",
        "FUNCTIONS_WORKER_PROCESS_COUNT",
        "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
        "SCM_DO_BUILD_DURING_DEPLOYMENT",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
        "WEBSITE_CONTENTOVERVNET",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_DNS_SERVER",
        "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
        "WEBSITE_NODE_DEFAULT_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
        "WEBSITE_VNET_ROUTE_ALL",
    }
)
# flex-consumption-plan "Considerations": not supported on Flex Consumption.
FLEX_UNSUPPORTED_APP_SETTINGS = frozenset({"WEBSITE_TIME_ZONE", "TZ", "WEBSITE_LOAD_CERTIFICATES"})

# "Flex Consumption plan deprecations": the site properties, spelled as the ARM models spell them
# (the table writes `properties.LinuxFxVersion`, `properties.IsXenon`, `properties.isReserved`).
FLEX_DEPRECATED_SITE_CONFIG = frozenset(
    {
        "alwaysOn",
        "ftpsState",
        "javaVersion",
        "linuxFxVersion",
        "netFrameworkVersion",
        "powerShellVersion",
        "functionAppScaleLimit",
        "preWarmedInstanceCount",
        "use32BitWorkerProcess",
        "vnetRouteAllEnabled",
        "windowsFxVersion",
    }
)
FLEX_DEPRECATED_SITE_PROPERTIES = frozenset(
    {
        "containerSize",
        "dnsConfiguration",
        "reserved",  # the table's `isReserved`; the Site model's `reserved`
        "isXenon",
        "vnetBackupRestoreEnabled",
        "vnetContentShareEnabled",
        "vnetImagePullEnabled",
    }
)
# Named by ARM error 51021 on Flex sites but not in the docs' table (issue #360's verbatim error).
FLEX_REJECTED_SITE_CONFIG = frozenset({"functionsRuntimeScaleMonitoringEnabled"})
# The three vnet*Enabled site properties of older API versions; azure-mgmt-web 11.0.1
# (api-version 2025-05-01) models them as Site.outboundVnetRouting instead.
NOT_IN_CURRENT_MODELS = frozenset(
    {"vnetBackupRestoreEnabled", "vnetContentShareEnabled", "vnetImagePullEnabled"}
)

FORBIDDEN_SITE_NAMES = {
    name.lower()
    for name in FLEX_DEPRECATED_SITE_CONFIG
    | FLEX_DEPRECATED_SITE_PROPERTIES
    | FLEX_REJECTED_SITE_CONFIG
}
FORBIDDEN_APP_SETTINGS = FLEX_DEPRECATED_APP_SETTINGS | FLEX_UNSUPPORTED_APP_SETTINGS


def model_names(model: type[Any]) -> set[str]:
    """The REST (JSON) property names of an azure-mgmt-web model class."""
    model()  # the generated models fill their field table on first construction
    fields: dict[str, Any] = model._attr_to_rest_field
    return {field._rest_name for field in fields.values()}


SITE_CONFIG_NAMES = model_names(web_models.SiteConfig)
SITE_PROPERTY_NAMES = model_names(web_models.SiteProperties)


def sites() -> list[tuple[str, str, dict[str, Any]]]:
    """Every Microsoft.Web/sites resource created in infra/: (file, name, body)."""
    return [(rel(p), n, b) for p, n, b in resources_of_type("Microsoft.Web/sites")]


def test_the_lists_name_properties_of_the_published_arm_models() -> None:
    """Every listed property is a SiteConfig or Site property of azure-mgmt-web, so spelled."""
    for name in FLEX_DEPRECATED_SITE_CONFIG | FLEX_REJECTED_SITE_CONFIG:
        assert name in SITE_CONFIG_NAMES, name
    for name in FLEX_DEPRECATED_SITE_PROPERTIES - NOT_IN_CURRENT_MODELS:
        assert name in SITE_PROPERTY_NAMES, name
    assert not NOT_IN_CURRENT_MODELS & (SITE_CONFIG_NAMES | SITE_PROPERTY_NAMES)
    assert "outboundVnetRouting" in SITE_PROPERTY_NAMES


def test_there_is_one_flex_consumption_site() -> None:
    """infra/ creates one Function App; the checks below read it."""
    assert [(path, name) for path, name, _ in sites()] == [("infra/app/api.bicep", "site")]
    plan = parsed(INFRA / "app" / "api.bicep")["resources"]["plan"]["config"]
    assert plan["sku"]["tier"] == "FlexConsumption"


def test_site_sets_no_flex_deprecated_or_rejected_property() -> None:
    """Neither the site nor its siteConfig sets a property Flex deprecates or rejects."""
    for path, name, site in sites():
        properties = site["properties"]
        used = {key.lower() for key in properties} | {
            key.lower() for key in properties["siteConfig"]
        }
        assert not used & FORBIDDEN_SITE_NAMES, f"{path}: {name}: {used & FORBIDDEN_SITE_NAMES}"


def test_site_properties_are_known_to_the_arm_models() -> None:
    """Every property the Bicep sets on the site exists in azure-mgmt-web (a typo fails here)."""
    for path, name, site in sites():
        properties = site["properties"]
        assert set(properties) <= SITE_PROPERTY_NAMES, f"{path}: {name}"
        assert set(properties["siteConfig"]) <= SITE_CONFIG_NAMES, f"{path}: {name}"
        config = properties["functionAppConfig"]
        assert set(config) <= model_names(web_models.FunctionAppConfig)
        scale = model_names(web_models.FunctionsScaleAndConcurrency)
        assert set(config["scaleAndConcurrency"]) <= scale
        assert set(config["runtime"]) <= model_names(web_models.FunctionsRuntime)
        storage = config["deployment"]["storage"]
        assert set(storage) <= model_names(web_models.FunctionsDeploymentStorage)
        authentication = model_names(web_models.FunctionsDeploymentStorageAuthentication)
        assert set(storage["authentication"]) <= authentication


def test_no_flex_deprecated_app_setting() -> None:
    """No app setting the Flex docs deprecate or call unsupported, in any settings list."""
    names = set(app_settings())
    for path in BICEP_FILES:
        for variable in parsed(path).get("variables", {}).values():
            config = (
                variable["value"].get("config") if isinstance(variable["value"], dict) else None
            )
            if isinstance(config, dict) and isinstance(config.get("name"), str):
                names.add(config["name"])  # looped settings: BLOBCOPY_ACCOUNT_${...}_URL
    assert names
    assert not names & FORBIDDEN_APP_SETTINGS, names & FORBIDDEN_APP_SETTINGS


@pytest.mark.parametrize("path", BICEP_FILES, ids=rel)
def test_no_sites_config_resource_sets_them_either(path: Any) -> None:
    """A Microsoft.Web/sites/config 'web' or 'appsettings' resource sets none of them."""
    for name, resource in parsed(path).get("resources", {}).items():
        if resource["type"] != "Microsoft.Web/sites/config":
            continue
        body = resource["config"]
        keys = {key.lower() for key in body.get("properties", {})}
        assert not keys & FORBIDDEN_SITE_NAMES, f"{rel(path)}: {name}"
        assert not keys & {s.lower() for s in FORBIDDEN_APP_SETTINGS}, f"{rel(path)}: {name}"
