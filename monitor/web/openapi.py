"""The hand-written OpenAPI 3.1 description of the JSON API, /healthz and /metrics."""

from __future__ import annotations

from typing import Any

_STR = {"type": "string"}
_INT = {"type": "integer"}
_TIME = {"type": "string", "format": "date-time", "description": "ISO 8601, UTC"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_INT_OR_NULL = {"type": ["integer", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
    }
    if description:
        schema["description"] = description
    return schema


def _page_of(item: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return _obj(
        {
            **(extra or {}),
            "items": {"type": "array", "items": _ref(item)},
            "page": {**_INT, "minimum": 1},
            "per_page": {**_INT, "minimum": 1},
            "total": {**_INT, "minimum": 0},
            "pages": {**_INT, "minimum": 1},
        }
    )


def _param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_PAGE = _param("page", "Page number, from 1.", {**_INT, "minimum": 1, "default": 1})
_PER_PAGE = _param(
    "per_page", "Rows per page.", {**_INT, "minimum": 1, "maximum": 500, "default": 50}
)


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("Error"), "A query parameter is invalid."),
    "401": {"description": "A token is configured and the request did not carry it."},
    "503": _json(_ref("Error"), "The database cannot be read."),
}


def _get(
    summary: str, ok: dict[str, Any], params: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {"200": ok, **_ERRORS}}
    if params:
        operation["parameters"] = params
    return {"get": operation}


SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": _STR}),
    "Event": _obj(
        {
            "id": _INT,
            "rule_id": _STR,
            "key": {**_STR, "description": "The group_by value; empty when the rule has none."},
            "state": {"type": "string", "enum": ["open", "closed"]},
            "title": _STR,
            "severity": _STR,
            "first_seen_at": _TIME,
            "last_seen_at": _TIME,
            "closed_at": _TIME_OR_NULL,
            "article_count": _INT,
            "source_count": _INT,
            "story_count": _INT,
        },
        "Matches of one rule within its window: one real-world event.",
    ),
    "Hit": _obj(
        {
            "term": {**_STR, "description": "The rule term that matched."},
            "field": {"type": "string", "enum": ["title", "summary", "text"]},
            "start": {**_INT, "description": "Character offset into the article field."},
            "end": _INT,
            "text": {**_STR, "description": "The words matched, as they appear in the field."},
        }
    ),
    "ArticleRef": _obj(
        {
            "id": _INT,
            "source_id": _STR,
            "url": {**_STR, "description": "As published; not checked, may be empty."},
            "title": _STR,
            "publisher": _STR,
            "published_at": _TIME,
            "story_id": _INT_OR_NULL,
            "revised": {
                "type": "boolean",
                "description": "The feed rewrote the article after it matched; the fields"
                " above are the version the match was made on.",
            },
            "current": {
                **_obj({"title": _STR, "url": _STR}),
                "type": ["object", "null"],
                "description": "What the feed says now, when revised; else null.",
            },
        }
    ),
    "Match": _obj(
        {
            "match_id": _INT,
            "rule_id": _STR,
            "matched_at": _TIME,
            "modality": {
                "type": "string",
                "enum": ["asserted", "negated", "hedged", "planned", "past"],
            },
            "modality_cue": _STR,
            "reason": _STR,
            "snippet": _STR,
            "hits": {"type": "array", "items": _ref("Hit")},
            "article": _ref("ArticleRef"),
        }
    ),
    "Alert": _obj(
        {
            "id": _INT,
            "event_id": _INT_OR_NULL,
            "channel": _STR,
            "kind": {**_STR, "description": "open, update, close, recovered, digest, ..."},
            "title": _STR,
            "state": {
                "type": "string",
                "enum": ["held", "digested", "pending", "sending", "sent", "retry", "dead"],
            },
            "attempts": _INT,
            "created_at": _TIME,
            "next_attempt_at": _TIME,
            "sent_at": _TIME_OR_NULL,
            "last_error": _STR,
            "digest_id": {**_INT_OR_NULL, "description": "The digest that carried a held alert."},
            "rule_id": _STR,
            "severity": _STR,
        }
    ),
    "EventAlert": {
        "allOf": [
            _ref("Alert"),
            _obj({"digest_state": {"type": ["string", "null"]}, "digest_sent_at": _TIME_OR_NULL}),
        ]
    },
    "EventDetail": _obj(
        {
            "event": _ref("Event"),
            "sources": {"type": "array", "items": _STR},
            "matches": _ref("MatchPage"),
            "alerts": {"type": "array", "items": _ref("EventAlert")},
        }
    ),
    "RuleMatch": _obj({"rule_id": _STR, "event_id": _INT_OR_NULL, "modality": _STR}),
    "ArticleResult": _obj(
        {
            "id": _INT,
            "source_id": _STR,
            "url": {**_STR, "description": "As published; not checked, may be empty."},
            "title": _STR,
            "publisher": _STR,
            "published_at": _TIME,
            "fetched_at": _TIME,
            "title_highlights": {"$ref": "#/components/schemas/Offsets"},
            "snippet": _STR,
            "snippet_highlights": {"$ref": "#/components/schemas/Offsets"},
            "matches": {"type": "array", "items": _ref("RuleMatch")},
        }
    ),
    "Offsets": {
        "type": "array",
        "description": "[start, end) character offsets of the matched words in the text before.",
        "items": {"type": "array", "items": _INT, "minItems": 2, "maxItems": 2},
    },
    "Source": _obj(
        {
            "id": _STR,
            "kind": _STR,
            "url": _STR,
            "config_url": _STR,
            "state": {**_STR, "description": "active, or gone after 410 Gone."},
            "state_reason": _STR,
            "last_poll_at": _TIME_OR_NULL,
            "last_success_at": _TIME_OR_NULL,
            "last_error": _STR,
            "last_error_at": _TIME_OR_NULL,
            "failures": {**_INT, "description": "Failures in a row."},
            "next_poll_at": _TIME_OR_NULL,
            "items_seen": _INT,
            "warning": _STR,
            "interval_s": {"type": ["number", "null"]},
            "last_status": _INT_OR_NULL,
            "last_new_at": _TIME_OR_NULL,
            "failing_since": _TIME_OR_NULL,
        }
    ),
    "TimelineRule": _obj(
        {
            "rule_id": _STR,
            "color": _STR,
            "counts": {"type": "array", "items": _INT, "description": "One per day."},
        }
    ),
    "Timeline": _obj(
        {
            "days": {"type": "array", "items": {"type": "string", "format": "date"}},
            "rules": {"type": "array", "items": _ref("TimelineRule")},
            "total": _INT,
        },
        "Events opened per rule per UTC day.",
    ),
    "Health": _obj(
        {
            "status": {"type": "string", "enum": ["ok", "unhealthy"]},
            "scheduler_alive": {"type": "boolean"},
            "database_writable": {"type": "boolean"},
            "last_cycle_age_seconds": {"type": ["number", "null"]},
            "problems": {"type": "array", "items": _STR},
        }
    ),
}
SCHEMAS["EventPage"] = _page_of("Event")
SCHEMAS["MatchPage"] = _page_of("Match")
SCHEMAS["ArticlePage"] = _page_of("ArticleResult", {"query": _STR})
SCHEMAS["SourcePage"] = _page_of("Source")
SCHEMAS["AlertPage"] = _page_of("Alert")

PATHS: dict[str, Any] = {
    "/api/events": _get(
        "Events, most recently active first.",
        _json(_ref("EventPage"), "A page of events."),
        [
            _param("rule", "Only this rule's events.", _STR),
            _param(
                "state",
                "Only open or closed events.",
                {"type": "string", "enum": ["open", "closed"]},
            ),
            _PAGE,
            _PER_PAGE,
        ],
    ),
    "/api/events/{id}": {
        "get": {
            "summary": "One event with its matched articles (paged) and its alerts.",
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": _INT},
                _PAGE,
                _PER_PAGE,
            ],
            "responses": {
                "200": _json(_ref("EventDetail"), "The event."),
                "404": _json(_ref("Error"), "No such event."),
                **_ERRORS,
            },
        }
    },
    "/api/articles": _get(
        "Full-text search over articles (all words, stemmed); the latest stored without q.",
        _json(_ref("ArticlePage"), "A page of articles, best match first."),
        [_param("q", "Words to search for; any text is accepted.", _STR), _PAGE, _PER_PAGE],
    ),
    "/api/sources": _get(
        "Every source with its poll state and health, failing ones first.",
        _json(_ref("SourcePage"), "A page of sources."),
        [_PAGE, _PER_PAGE],
    ),
    "/api/alerts": _get(
        "The alert outbox, newest first.",
        _json(_ref("AlertPage"), "A page of alerts."),
        [
            _param("state", "Only alerts in this state.", _STR),
            _param("channel", "Only alerts for this channel.", _STR),
            _PAGE,
            _PER_PAGE,
        ],
    ),
    "/api/timeline": _get(
        "Events opened per rule per UTC day, the data behind the dashboard chart.",
        _json(_ref("Timeline"), "The timeline."),
        [
            _param(
                "days",
                "How many days, ending today.",
                {**_INT, "minimum": 1, "maximum": 366, "default": 30},
            )
        ],
    ),
    "/api/openapi.json": {
        "get": {
            "summary": "This document.",
            "responses": {
                "200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}
            },
        }
    },
    "/healthz": {
        "get": {
            "summary": "Scheduler alive, database writable, last cycle recent enough.",
            "responses": {
                "200": _json(_ref("Health"), "Healthy."),
                "503": _json(_ref("Health"), "Unhealthy; problems says why."),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus text exposition format 0.0.4.",
            "responses": {
                "200": {
                    "description": "Metrics.",
                    "content": {"text/plain; version=0.0.4": {"schema": _STR}},
                }
            },
        }
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "news-monitor",
        "version": "1",
        "description": (
            "Read-only access to the events, articles, sources and alert outbox of a running"
            " news-monitor. All times are UTC. Text from feeds is returned as stored, unescaped."
            " When the daemon is configured with a token, send it as a bearer token or as the"
            " password of HTTP basic auth."
        ),
    },
    "servers": [{"url": "/"}],
    "security": [{}, {"bearer": []}, {"basic": []}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "basic": {
                "type": "http",
                "scheme": "basic",
                "description": "Any user, token as password.",
            },
        },
    },
}
