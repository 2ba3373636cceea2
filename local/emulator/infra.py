"""The Augeo production stack as an ARM template (the JSON `bicep build` makes of it) and its parameters, for
scenarios of the infrastructure rollback: an App Service on a plan (site config and app settings as
`Microsoft.Web/sites/config`), a PostgreSQL flexible server with its sku and a secure admin password, and an
Azure Cache for Redis. Each release of the infrastructure is this template with other parameters."""

from __future__ import annotations

from typing import Any

APP = "augeo-production-api"
VAULT_SECRET = "postgres-admin-password"
SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def stack_template() -> dict[str, Any]:
    location = "[resourceGroup().location]"
    return {
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "metadata": {"_generator": {"name": "bicep", "version": "0.38.33.27573"}},
        "parameters": {
            "appName": {"type": "string"},
            "release": {"type": "string"},
            "workers": {"type": "int", "defaultValue": 2},
            "postgresSku": {"type": "string", "defaultValue": "Standard_D4ds_v5"},
            "postgresTier": {"type": "string", "defaultValue": "GeneralPurpose",
                             "allowedValues": ["Burstable", "GeneralPurpose", "MemoryOptimized"]},
            "redisSku": {"type": "string", "defaultValue": "Standard", "allowedValues": ["Basic", "Standard",
                                                                                          "Premium"]},
            "redisCapacity": {"type": "int", "defaultValue": 1},
            "featureFlags": {"type": "string", "defaultValue": "checkout-v2=off"},
            "postgresAdminPassword": {"type": "securestring"},
        },
        "variables": {"planName": "[format('{0}-plan', parameters('appName'))]",
                      "postgresName": "[format('{0}-pg', parameters('appName'))]",
                      "redisName": "[format('{0}-redis', parameters('appName'))]"},
        "resources": [
            {"type": "Microsoft.Web/serverfarms", "apiVersion": "2025-05-01", "name": "[variables('planName')]",
             "location": location, "kind": "linux",
             "sku": {"name": "P1v3", "tier": "PremiumV3", "capacity": "[parameters('workers')]"},
             "properties": {"reserved": True}},
            {"type": "Microsoft.Web/sites", "apiVersion": "2025-05-01", "name": "[parameters('appName')]",
             "location": location, "kind": "app,linux,container",
             "properties": {"serverFarmId": "[resourceId('Microsoft.Web/serverfarms', variables('planName'))]",
                            "httpsOnly": True, "clientAffinityEnabled": False},
             "dependsOn": ["[resourceId('Microsoft.Web/serverfarms', variables('planName'))]"]},
            {"type": "Microsoft.Web/sites/config", "apiVersion": "2025-05-01",
             "name": "[format('{0}/web', parameters('appName'))]",
             "properties": {"linuxFxVersion": "[format('DOCKER|augeo.azurecr.io/augeo-backend:{0}', "
                                              "parameters('release'))]",
                            "alwaysOn": True, "healthCheckPath": "/health", "minTlsVersion": "1.2",
                            "numberOfWorkers": "[parameters('workers')]"},
             "dependsOn": ["[resourceId('Microsoft.Web/sites', parameters('appName'))]"]},
            {"type": "Microsoft.Web/sites/config", "apiVersion": "2025-05-01",
             "name": "[format('{0}/appsettings', parameters('appName'))]",
             "properties": {"FEATURE_FLAGS": "[parameters('featureFlags')]", "WEBSITES_PORT": "8000",
                            "DATABASE_HOST": "[format('{0}.postgres.database.azure.com', variables('postgresName'))]",
                            "REDIS_HOST": "[format('{0}.redis.cache.windows.net', variables('redisName'))]"},
             "dependsOn": ["[resourceId('Microsoft.Web/sites', parameters('appName'))]"]},
            {"type": "Microsoft.DBforPostgreSQL/flexibleServers", "apiVersion": "2025-08-01",
             "name": "[variables('postgresName')]", "location": location,
             "sku": {"name": "[parameters('postgresSku')]", "tier": "[parameters('postgresTier')]"},
             "properties": {"version": "16", "administratorLogin": "augeo_admin",
                            "administratorLoginPassword": "[parameters('postgresAdminPassword')]",
                            "storage": {"storageSizeGB": 128}, "backup": {"backupRetentionDays": 14}}},
            {"type": "Microsoft.Cache/redis", "apiVersion": "2024-11-01", "name": "[variables('redisName')]",
             "location": location,
             "properties": {"sku": {"name": "[parameters('redisSku')]", "family": "C",
                                    "capacity": "[parameters('redisCapacity')]"},
                            "enableNonSslPort": False, "minimumTlsVersion": "1.2"}},
        ],
        "outputs": {"siteId": {"type": "string",
                               "value": "[resourceId('Microsoft.Web/sites', parameters('appName'))]"}},
    }


def stack_parameters(release: str, *, app: str = APP, workers: int = 2, postgres_sku: str = "Standard_D4ds_v5",
                     redis_sku: str = "Standard", redis_capacity: int = 1, feature_flags: str = "checkout-v2=off",
                     password: str | None = None, vault_id: str | None = None) -> dict[str, Any]:
    """The deployment's parameters: the admin password given as a value (`password`), or as a Key Vault reference
    to `VAULT_SECRET` in `vault_id` (the way a pipeline passes it, and the way a redeploy must)."""
    parameters: dict[str, Any] = {"appName": {"value": app}, "release": {"value": release},
                                  "workers": {"value": workers}, "postgresSku": {"value": postgres_sku},
                                  "redisSku": {"value": redis_sku}, "redisCapacity": {"value": redis_capacity},
                                  "featureFlags": {"value": feature_flags}}
    if vault_id is not None:
        parameters["postgresAdminPassword"] = {"reference": {"keyVault": {"id": vault_id},
                                                             "secretName": VAULT_SECRET}}
    elif password is not None:
        parameters["postgresAdminPassword"] = {"value": password}
    return parameters


def add_stack_history(emulator: Any, resource_group: str | None = None) -> dict[str, str]:
    """The production stack's deployment history, oldest first: `baseline` (v1.2.1, 3 days ago) and
    `release-v1.2.2` (5 hours ago), both good; `hotfix-db-sku` (25 minutes ago), which ARM reports Succeeded but
    which broke production (v1.2.3, the PostgreSQL server shrunk to Standard_B1ms, checkout-v2 switched on);
    `release-v1.2.4` (10 minutes ago), Failed with a Conflict on the PostgreSQL server. Names sort differently
    from times, as a list does not come in time order. Returns {role: name}."""
    from local.emulator import RESOURCE_GROUP, SUBSCRIPTION
    from local.emulator.deployments import Failure

    group = resource_group or RESOURCE_GROUP
    if emulator.resources.group(SUBSCRIPTION, group) is None:
        emulator.add_resource_group(group)
    if not emulator.vault.secrets.get(VAULT_SECRET):
        emulator.vault.set(VAULT_SECRET, "Pg-admin-0nly-in-the-vault")
    vault_id = emulator.vault_resource_id()
    history = (("baseline", stack_parameters("v1.2.1", vault_id=vault_id), 3 * 24 * 60, "Succeeded", None),
               ("release-v1.2.2", stack_parameters("v1.2.2", vault_id=vault_id), 5 * 60, "Succeeded", None),
               ("hotfix-db-sku", stack_parameters("v1.2.3", vault_id=vault_id, postgres_sku="Standard_B1ms",
                                                  feature_flags="checkout-v2=on"), 25, "Succeeded", None),
               ("release-v1.2.4", stack_parameters("v1.2.4", vault_id=vault_id, postgres_sku="Standard_B1ms",
                                                   feature_flags="checkout-v2=on"), 10, "Failed",
                Failure("Conflict", "The server 'augeo-production-api-pg' is busy with another operation. Please "
                                    "try your operation later.", resource=f"{APP}-pg")))
    for name, parameters, minutes_ago, state, error in history:
        emulator.deployments.add(group, name, stack_template(), parameters, subscription=SUBSCRIPTION,
                                 state=state, minutes_ago=minutes_ago, error=error)
    return {"last_good": "release-v1.2.2", "bad": "hotfix-db-sku", "failed": "release-v1.2.4",
            "first": "baseline"}
