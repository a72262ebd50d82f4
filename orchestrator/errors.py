"""hgbot's one exception tree.

    HgbotError                      every error we raise on purpose; ``str()`` is a sentence for people
    ├── ConfigError                 missing or invalid configuration (no LLM, bad catalog file, ...)
    ├── Unreachable                 a service could not be reached (DNS, refused connection): retry later
    ├── InputError                  bad user input: missing/oversized/unsupported file, bad handle
    │   └── ArtifactNotFound        handle unknown, or it belongs to another conversation
    ├── LLMError                    the LLM endpoint failed
    │   ├── LLMUnavailable          unreachable, timed out, or rate limited past our retries
    │   └── LLMBadResponse          answered, but with an error body or an unusable message
    ├── PlanError                   the plan is invalid (after the repair turn); ``.problems`` lists why
    │   └── TaskUnavailable         the request needs tasks no model here can run; ``.tasks`` names them
    ├── ModelError                  a model could not be loaded or failed while running
    │   └── BackendUnavailable      no installed backend can run this task/model
    ├── TaskTimeout                 a task ran past its time limit
    ├── StorageError                the database or blob store failed
    └── JobRefused                  a request not taken: over its quota (``resets_at``), or a cancel not allowed

Adapters catch ``HgbotError`` at their boundary and show ``str(exc)`` to the user; anything
else is a bug, logged with its traceback and shown as a short apology with the run id.
"""

from __future__ import annotations


class HgbotError(Exception):
    """Base of every error hgbot raises on purpose. The message is meant for a person."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint

    def user_message(self) -> str:
        text = str(self)
        return f"{text} {self.hint}".strip() if self.hint else text


class ConfigError(HgbotError):
    pass


class Unreachable(HgbotError):
    pass


class InputError(HgbotError):
    pass


class ArtifactNotFound(InputError):
    pass


class LLMError(HgbotError):
    pass


class LLMUnavailable(LLMError):
    pass


class LLMBadResponse(LLMError):
    pass


class PlanError(HgbotError):
    def __init__(self, message: str, problems: list[str] | None = None, *, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])


class TaskUnavailable(PlanError):
    """The embedded planner understood the request, but no model in the active catalog runs
    ``tasks``. ``plan`` is what would have run (for ``hgbot plan``); nothing ran."""

    def __init__(self, tasks: list[str], plan: object = None) -> None:
        names = ", ".join(tasks)
        one = len(tasks) == 1
        super().__init__(
            f"{names} can't run here: no model for {'it' if one else 'them'} in the active catalog.",
            [f"no runnable model for {t}" for t in tasks],
            hint="To enable it, set OPENAI_BASE_URL to an LLM endpoint (the hub catalog then covers every task), "
                 f"pull a model (hgbot models pull --task {tasks[0]}), or add a catalog entry for it "
                 "(HGBOT_CATALOG=/path/catalog.jsonl).")
        self.tasks = list(tasks)
        self.plan = plan


class ModelError(HgbotError):
    pass


class BackendUnavailable(ModelError):
    pass


class TaskTimeout(HgbotError):
    pass


class StorageError(HgbotError):
    pass


class JobRefused(HgbotError):
    def __init__(self, message: str, *, resets_at: float | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.resets_at = resets_at
