"""The only code that imports an Azure SDK, redis, httpx or jwt: App Service, Key Vault, the cache, health
probes, identity. Their errors become shared/errors.py types at this boundary."""
