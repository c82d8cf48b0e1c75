"""Write the JSON Schema files producers validate against: ``python -m schemas.jsonschema``.

``tests/unit/test_schemas.py`` fails when a committed file differs from what the models
generate, so the files never drift from the code.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.events import InferenceEvent, UserFeedback
from schemas.results import Alert, DeadLetter, EventSignals, RetrainingEvent

__all__ = ["SCHEMAS", "render", "write_all"]

HERE = Path(__file__).parent

#: file name -> model. Topic major versions match the ``schema_version`` in each model.
SCHEMAS: dict[str, type[BaseModel]] = {
    "inference_event.v1.schema.json": InferenceEvent,
    "user_feedback.v1.schema.json": UserFeedback,
    "event_signals.v1.schema.json": EventSignals,
    "alert.v1.schema.json": Alert,
    "retraining_event.v1.schema.json": RetrainingEvent,
    "dead_letter.v1.schema.json": DeadLetter,
}


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://infersight.dev/schemas/{model.__name__}.v1.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_all(directory: Path = HERE) -> list[Path]:
    written = []
    for name, model in SCHEMAS.items():
        path = directory / name
        path.write_text(render(model))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path)
