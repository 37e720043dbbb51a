"""The OpenAPI 3.1 description of /api/v1, written by hand so it reads as documentation."""
import copy

from survey.services import MAX_ID

ITEM_ANSWERS = {
    "CE1": 8, "CE2": 7, "CE3": 9,
    "PQ1": 8, "PQ2": 8, "PQ3": 7,
    "PV1": 6, "PV2": None,
    "CS1": 9, "CS2": 8, "CS3": 7,
    "CC1": 3,
    "CL1": 9, "CL2": 8,
}

EXAMPLE_KIOSK = {
    "locale": "zh",
    "answers": {**ITEM_ANSWERS, "complained": "no", "comment": "服务很好，谢谢"},
}
EXAMPLE_CRM = {
    "locale": "en",
    "answers": {
        **ITEM_ANSWERS,
        "PV2": 5,
        "complained": "yes",
        "complaint_handling": 4,
        "complaint_cause": ["quality", "systems"],
        "customer_type": "business",
        "key_account": "yes",
        "customer_status": "current",
        "region": "east",
        "channel": "sales_rep",
        "tenure": "3to5",
        "comment": "Delivery was late twice.",
    },
}

ERROR_EXAMPLE = {
    "error": {
        "status": 422,
        "code": "invalid_response",
        "message": "Some answers are not valid; nothing was stored.",
        "fields": {"CS1": "Please choose a value on the scale.", "XX9": "Unknown question code."},
        "reasons": {"CS1": "out_of_range", "XX9": "unknown_code"},
    }
}

_ERROR_CODES = [
    "not_json", "invalid_payload", "invalid_parameter", "invalid_response", "unauthorized", "forbidden",
    "not_found", "survey_closed", "token_used", "token_unknown", "method_not_allowed", "too_large",
    "bad_request", "gone", "internal_error", "http_error",
]

_DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "CSI survey API",
        "version": "1.0.0",
        "summary": "Submit customer satisfaction responses from kiosks and CRM systems; read them back.",
        "description": (
            "Answers are keyed by question code: model items `CE1`..`CL2` take an integer on the survey's "
            "scale (1-10 by default) or `null` for \"don't know / not applicable\"; other questions use "
            "snake_case codes (`complained`, `complaint_handling`, `complaint_cause`, segment questions, "
            "`comment`). A question with a condition (`complaint_handling`, `complaint_cause` apply only when "
            "`complained` is `yes`) answered while its condition does not hold is refused as `not_applicable` "
            "(`null` there is accepted and ignored). A submission is validated by the same rules as the web "
            "form and is stored in one "
            "transaction before `201` is returned. Errors are JSON with per-field messages."
        ),
    },
    "servers": [{"url": "/"}],
    "components": {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "`Authorization: Bearer <key>`: a survey's submit key, or a read key for GET.",
            },
            "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        },
        "parameters": {
            "slug": {
                "name": "slug", "in": "path", "required": True,
                "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
                "description": "The survey's short name, as in /s/<slug>.",
            },
        },
        "schemas": {
            "AnswerValue": {
                "description": "Scale value, choice code, list of choice codes, free text, or null.",
                "oneOf": [
                    {"type": "integer"},
                    {"type": "string"},
                    {"type": "array", "items": {"type": "string"}},
                    {"type": "null"},
                ],
            },
            "ResponseIn": {
                "type": "object",
                "required": ["locale", "answers"],
                "properties": {
                    "locale": {"type": "string", "enum": ["zh", "zh_CN", "zh-CN", "en"],
                               "description": "Language the respondent saw (stored as zh_CN or en)."},
                    "wave": {"type": "integer", "minimum": 1,
                             "description": "Wave number; the survey's current wave when omitted."},
                    "token": {"type": "string",
                              "description": "Invitation token; each token is accepted once."},
                    "answers": {"type": "object",
                                "additionalProperties": {"$ref": "#/components/schemas/AnswerValue"}},
                },
                "additionalProperties": False,
            },
            "ResponseCreated": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "integer"},
                    "survey": {"type": "string"},
                    "wave": {"type": "integer"},
                    "created_at": {"type": "string", "format": "date-time"},
                },
            },
            "ResponseOut": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "created_at": {"type": "string", "format": "date-time"},
                    "wave": {"type": "integer"},
                    "locale": {"type": "string"},
                    "source": {"type": "string", "enum": ["web", "api", "import", "demo"]},
                    "answers": {"type": "object",
                                "additionalProperties": {"$ref": "#/components/schemas/AnswerValue"}},
                },
            },
            "ResponsePage": {
                "type": "object",
                "required": ["data", "next_after"],
                "properties": {
                    "data": {"type": "array", "items": {"$ref": "#/components/schemas/ResponseOut"}},
                    "next_after": {"type": ["integer", "null"],
                                   "description": "Pass as `after` for the next page; null on the last."},
                },
            },
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["status", "code", "message"],
                        "properties": {
                            "status": {"type": "integer", "description": "The HTTP status, repeated."},
                            "code": {"type": "string", "enum": _ERROR_CODES},
                            "message": {"type": "string"},
                            "fields": {"type": "object", "additionalProperties": {"type": "string"},
                                       "description": "Field or question code -> message for people."},
                            "reasons": {"type": "object", "additionalProperties": {"type": "string"},
                                        "description": "On 422: question code -> stable reason code "
                                                       "(required, out_of_range, not_a_number, "
                                                       "invalid_choice, dont_know_not_allowed, too_long, "
                                                       "not_applicable, unknown_code)."},
                        },
                    }
                },
            },
        },
        "responses": {
            name: {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
            for name, text in [
                ("Unauthorized", "No API key, or an unknown or revoked one."),
                ("Forbidden", "The key is valid but not for this survey or this operation."),
                ("NotFound", "No survey with this slug."),
            ]
        },
    },
    "paths": {
        "/api/v1/surveys/{slug}/responses": {
            "parameters": [{"$ref": "#/components/parameters/slug"}],
            "post": {
                "operationId": "submitResponse",
                "summary": "Submit one response",
                "security": [{"bearer": []}, {"apiKeyHeader": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ResponseIn"},
                            "examples": {
                                "kiosk": {"summary": "Kiosk in Chinese, one don't-know",
                                          "value": EXAMPLE_KIOSK},
                                "crm": {"summary": "CRM export of a customer who complained",
                                        "value": EXAMPLE_CRM},
                            },
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "Stored (committed) response.",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/ResponseCreated"}}},
                    },
                    "400": {
                        "description": "Body is not a JSON object, or fields have the wrong type.",
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                    "401": {"$ref": "#/components/responses/Unauthorized"},
                    "403": {"$ref": "#/components/responses/Forbidden"},
                    "404": {"$ref": "#/components/responses/NotFound"},
                    "409": {
                        "description": "Survey closed, or the invitation token was already used.",
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                    "422": {
                        "description": "Answers fail validation (unknown codes, out-of-scale values, "
                                       "missing required answers, unknown wave; code invalid_response) or "
                                       "the invitation token is unknown (token_unknown). Nothing is stored.",
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Error"},
                            "examples": {"invalid": {"value": ERROR_EXAMPLE}}}},
                    },
                },
            },
            "get": {
                "operationId": "listResponses",
                "summary": "Page through stored responses, oldest first",
                "description": "Needs a read key (managers); submit keys are refused with 403.",
                "security": [{"bearer": []}, {"apiKeyHeader": []}],
                "parameters": [
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
                    {"name": "after", "in": "query", "description": "Return responses with id > after.",
                     "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}},
                    {"name": "wave", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                ],
                "responses": {
                    "200": {
                        "description": "One page of responses.",
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/ResponsePage"}}},
                    },
                    "400": {
                        "description": "Bad `limit`, `after` or `wave`.",
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                    "401": {"$ref": "#/components/responses/Unauthorized"},
                    "403": {"$ref": "#/components/responses/Forbidden"},
                    "404": {"$ref": "#/components/responses/NotFound"},
                },
            },
        },
        "/api/v1/surveys/{slug}/responses/{response_id}": {
            "parameters": [
                {"$ref": "#/components/parameters/slug"},
                {"name": "response_id", "in": "path", "required": True,
                 "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}},
            ],
            "get": {
                "operationId": "getResponse",
                "summary": "One stored response (the Location of a 201)",
                "security": [{"bearer": []}, {"apiKeyHeader": []}],
                "responses": {
                    "200": {"description": "The response.", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/ResponseOut"}}}},
                    "401": {"$ref": "#/components/responses/Unauthorized"},
                    "403": {"$ref": "#/components/responses/Forbidden"},
                    "404": {"$ref": "#/components/responses/NotFound"},
                },
            },
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1 document.",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            }
        },
    },
}


def document() -> dict:
    """Return a fresh copy of the OpenAPI document (callers may not mutate the module's copy)."""
    return copy.deepcopy(_DOCUMENT)
