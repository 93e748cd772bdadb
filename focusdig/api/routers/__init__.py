"""The API's routers, one module per area; :data:`ROUTERS` is what the app includes."""

from focusdig.api.routers import alerts, entities, items, labels, pages, system

ROUTERS = [
    system.router,
    items.router,
    entities.router,
    labels.router,
    alerts.router,
    pages.router,
]
