"""``GET /vocabulary``: the words the pages use, for the notebook client to use too."""

from __future__ import annotations

from fastapi import APIRouter

from explainer_service.api.answers import words
from explainer_service.api.bodies import Body
from explainer_service.api.deps import RuntimeDep, SettingsDep

router = APIRouter(tags=["pages"])


class VocabularyOut(Body):
    """How the pages name things (``presentation.vocabulary.Vocabulary.as_json``)."""

    subject: str
    subjects: str
    classes: dict[str, str]
    features: dict[str, str]
    categories: dict[str, dict[str, str]]


@router.get("/vocabulary", response_model=VocabularyOut, summary="The words the pages use")
async def vocabulary(settings: SettingsDep, runtime: RuntimeDep) -> VocabularyOut:
    """The model's subject, its classes, features and categories in the pages' words
    (``model.subject``, ``model.class_labels``, ``features.labels``,
    ``features.category_labels``); the notebook client reads it when given no words."""
    return VocabularyOut.model_validate(words(settings, runtime).as_json())
