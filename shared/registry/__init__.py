"""The dated site registry and its two trees (administrative and department systems)."""

from shared.registry.model import (
    NATIONAL,
    Level,
    Node,
    Registry,
    RegistryError,
    Site,
    SiteType,
    Tree,
    moved_nodes,
    moved_sites,
    registry_digest,
    registry_document,
)

__all__ = [
    "NATIONAL",
    "Level",
    "Node",
    "Registry",
    "RegistryError",
    "Site",
    "SiteType",
    "Tree",
    "moved_nodes",
    "moved_sites",
    "registry_digest",
    "registry_document",
]
