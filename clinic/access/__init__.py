"""The one policy decision point. Every read, search, write and export asks `decide`."""

from clinic.access.policy import (
    AccessDenied,
    Action,
    Actor,
    Decision,
    ResourceFacts,
    Target,
    decide,
    require,
    search_scope,
)
from clinic.access.roles import Purpose, Role

__all__ = [
    "AccessDenied",
    "Action",
    "Actor",
    "Decision",
    "Purpose",
    "ResourceFacts",
    "Role",
    "Target",
    "decide",
    "require",
    "search_scope",
]
