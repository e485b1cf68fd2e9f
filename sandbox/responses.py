"""Response models of the REST API that are not results of a run: pages, reports, catalogues, secrets.

They live here, beside ``sandbox.models`` and like it with pydantic alone, so the Python client
(``sandbox.client``) parses answers with the very classes the server builds them from, without
importing FastAPI, the engine or the secret store. The server's routes and examples import them
from here; their names are the OpenAPI schema names, so they do not change.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from sandbox.models import ExecutionRecord, Finding, SessionInfo


class ExecutionPage(BaseModel):
    items: list[ExecutionRecord]
    total: int
    limit: int
    offset: int


class ValidationReport(BaseModel):
    allowed: bool
    status: str
    policy: str
    policy_version: int
    findings: list[Finding]


class LanguageInfo(BaseModel):
    name: str
    aliases: list[str]
    main_file: str
    description: str
    extensions: list[str] = Field(description="File suffixes that name this language (`sandbox run` guesses by them).")
    compiled: bool = Field(description="Whether the program is compiled before it runs.")
    compile_command: list[str] | None = Field(description="Run in the workdir before the program; null: none.")
    run_command: list[str] = Field(description="What runs the program, in the workdir.")
    version: str | None = Field(description="The image's runtime or compiler version; null until its image is built.")
    packages: list[str] = Field(description="Debian packages the image installs for the language.")
    built: bool = Field(
        description="Whether the image is built; a request for a language whose image is not is answered 503 "
        "(with Retry-After) while the server builds it."
    )


class PolicyInfo(BaseModel):
    name: str
    version: int
    strictness: int
    description: str
    enforce: bool


class SessionList(BaseModel):
    items: list[SessionInfo] = Field(description="This key's open sessions in this server, oldest first.")


class SecretInfo(BaseModel):
    """A secret as listed: never its value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: int
    created_at: datetime
    updated_at: datetime
