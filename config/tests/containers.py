"""What the Dockerfile and the compose files give a container, read the way Docker reads them.

No Docker engine runs on our machines, so the tests read the files themselves: the image's
ENV, CMD and other instructions, the compose services after YAML anchors and merges, the
`${VAR:-default}` interpolation compose applies from `.env`, and `.env` files.
"""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE_FILE = REPO / "docker-compose.yml"
COMPOSE_DEV_FILE = REPO / "compose.dev.yml"
ENV_EXAMPLE = REPO / ".env.example"

# What an operator fills into .env (the rest comes from .env.example as shipped).
OPERATOR_SETTINGS = {
    "DJANGO_SECRET_KEY": "compose-test-key-3f9c2a7e1b5d8f0a4c6e2b9d7f1a3c5e8b0d2f4a6c8e0b",
    "DJANGO_ALLOWED_HOSTS": "geoip.example.com",
    "POSTGRES_PASSWORD": "b1946ac92492d2347c6235b4d2611184",
}


@dataclass(frozen=True)
class Instruction:
    stage: str
    keyword: str
    arguments: str


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    """Every instruction with the stage it belongs to (continuation lines joined, comments dropped)."""
    instructions: list[Instruction] = []
    stage = ""
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, arguments = text.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.search(r"\bAS\s+(\S+)", arguments, re.IGNORECASE)
            stage = match[1] if match else arguments.split()[0]
        instructions.append(Instruction(stage, keyword, arguments.strip()))
    return instructions


def stage_lineage(stage: str, instructions: list[Instruction]) -> list[str]:
    """The stage and the stages it is built FROM, base first (`FROM runtime AS production`)."""
    bases = {i.stage: i.arguments.split()[0] for i in instructions if i.keyword == "FROM"}
    lineage = [stage]
    while bases.get(lineage[0]) in bases:
        lineage.insert(0, bases[lineage[0]])
    return lineage


def image_environment(stage: str = "production") -> dict[str, str]:
    """The ENV the image sets for `stage` (PATH left out: it names the image's virtualenv)."""
    instructions = dockerfile_instructions()
    lineage = stage_lineage(stage, instructions)
    environment: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV" and instruction.stage in lineage:
            for word in shlex.split(instruction.arguments):
                name, _, value = word.partition("=")
                environment[name] = value
    environment.pop("PATH", None)
    return environment


def image_json_array(keyword: str, stage: str = "production") -> list[str]:
    """CMD or ENTRYPOINT (exec form) as the image runs it."""
    instructions = dockerfile_instructions()
    lineage = stage_lineage(stage, instructions)
    found = [i for i in instructions if i.keyword == keyword and i.stage in lineage]
    return yaml.safe_load(found[-1].arguments)


def image_healthcheck(stage: str = "production") -> list[str]:
    """The HEALTHCHECK's command (exec form)."""
    instructions = dockerfile_instructions()
    lineage = stage_lineage(stage, instructions)
    found = [i for i in instructions if i.keyword == "HEALTHCHECK" and i.stage in lineage]
    return yaml.safe_load(found[-1].arguments.partition(" CMD ")[2])


def on_this_machine(command: list[str]) -> list[str]:
    """An image's command with its paths under /app (the WORKDIR) made paths of this checkout."""
    return [str(REPO / part.removeprefix("/app/")) if part.startswith("/app/") else part for part in command]


def read_env_file(path: Path) -> dict[str, str]:
    """A .env file as compose reads it: KEY=VALUE lines, comments and blank lines skipped."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


class MissingVariable(ValueError):
    """compose refuses to start: a `${VAR:?message}` variable is unset or empty."""


INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|(?P<bare>\w+))"
)


def interpolate(value: str, variables: dict[str, str]) -> str:
    """compose's interpolation: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, $$."""

    def replace(match: re.Match) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        current = variables.get(name)
        op, argument = match["op"], match["arg"]
        if op == ":-":
            return current if current else argument
        if op == "-":
            return current if current is not None else argument
        if (op == ":?" and not current) or (op == "?" and current is None):
            raise MissingVariable(f"required variable {name} is missing a value: {argument}")
        return current or ""

    return INTERPOLATION.sub(replace, value)


def load_compose(*paths: Path) -> dict:
    """The compose files merged the simple way compose merges services (later files win per key)."""
    model: dict = {}
    for path in paths:
        document = yaml.safe_load(path.read_text())
        for key, value in document.items():
            if key == "services":
                services = model.setdefault("services", {})
                for name, service in value.items():
                    merged = services.setdefault(name, {})
                    for field, setting in service.items():
                        if isinstance(setting, dict) and isinstance(merged.get(field), dict):
                            merged[field] = {**merged[field], **setting}
                        elif isinstance(setting, list) and field in {"ports", "volumes"}:
                            merged[field] = [*merged.get(field, []), *setting]
                        else:
                            merged[field] = setting
            else:
                model[key] = value
    return model


def service_environment(
    service: str, *, dotenv: dict[str, str], files: tuple[Path, ...] = (COMPOSE_FILE,)
) -> dict[str, str]:
    """The environment compose gives `service`'s container, `dotenv` being the project's .env.

    env_file entries first, then `environment:` (which wins), every value interpolated from .env.
    """
    definition = load_compose(*files)["services"][service]
    environment: dict[str, str] = {}
    env_files = definition.get("env_file", [])
    for env_file in [env_files] if isinstance(env_files, str | dict) else env_files:
        name = env_file["path"] if isinstance(env_file, dict) else env_file
        if name == ".env":
            environment.update(dotenv)
        else:
            environment.update(read_env_file(REPO / name))
    entries = definition.get("environment", {})
    if isinstance(entries, list):
        entries = dict(entry.partition("=")[::2] for entry in entries)
    for name, value in entries.items():
        environment[name] = interpolate("" if value is None else str(value), dotenv)
    return environment


def operator_dotenv(**overrides: str) -> dict[str, str]:
    """The .env of an operator who copied .env.example and filled in what it asks for."""
    return {**read_env_file(ENV_EXAMPLE), **OPERATOR_SETTINGS, **overrides}


def production_app_environment(**dotenv_overrides: str) -> dict[str, str]:
    """Everything the app container's processes see: the image's ENV, then compose's."""
    return {
        **image_environment("production"),
        **service_environment("app", dotenv=operator_dotenv(**dotenv_overrides)),
    }
