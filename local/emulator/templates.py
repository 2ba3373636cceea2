"""ARM template evaluation for the emulator: a documented subset of the template language, enough for the JSON
that `bicep build` makes of an ordinary resource-group template, and a clear `InvalidTemplate` for the rest.

Supported: `parameters` (string, securestring, int, bool, object, secureObject, array; `defaultValue`,
`allowedValues`), `variables`, `resources` as an array or (languageVersion 2.0) an object of symbolic names,
`outputs`; expressions `[...]` with string literals ('it''s'), integers, property access and indexing
(`resourceGroup().location`, `parameters('x').name`, `[0]`) and the functions parameters, variables,
resourceGroup, subscription, resourceId, concat, format, toLower, toUpper, string, int, bool, true, false, null,
uniqueString. Anything else (reference(), copy loops, conditions, nested deployments, templateLink) is refused
with `InvalidTemplate` naming it: the emulator never guesses what a template means.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from local.emulator.arm_resources import TENANT, ResourceGroup, resource_id

PARAMETER_TYPES = {"string": "String", "securestring": "SecureString", "int": "Int", "bool": "Bool",
                   "object": "Object", "secureobject": "SecureObject", "array": "Array"}
SECURE_TYPES = {"securestring", "secureobject"}


class TemplateError(Exception):
    """A template or its parameters that ARM would refuse: `code` and `message` in ARM's words."""

    def __init__(self, message: str, code: str = "InvalidTemplate"):
        super().__init__(message)
        self.code, self.message = code, message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message,
                          "additionalInfo": [{"type": "TemplateViolation",
                                              "info": {"lineNumber": 0, "linePosition": 0, "path": ""}}]}}


def validation_failed(reason: str, link: str = "https://aka.ms/arm-syntax") -> TemplateError:
    return TemplateError(f"Deployment template validation failed: '{reason} Please see {link} for usage details.'.")


@dataclass
class DesiredResource:
    """A resource as the template declares it, expressions evaluated."""

    symbolic_name: str | None
    type: str
    name: str
    api_version: str
    id: str
    location: str | None
    properties: dict[str, Any]
    tags: dict[str, str] | None
    sku: dict[str, Any] | None
    kind: str | None
    depends_on: list[str]

    def state(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for key, value in (("location", self.location), ("kind", self.kind), ("sku", self.sku),
                           ("tags", self.tags)):
            if value is not None:
                body[key] = value
        body["properties"] = self.properties
        return body

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "type": self.type, "apiVersion": self.api_version,
                **self.state()}


@dataclass
class Evaluated:
    resources: list[DesiredResource]
    parameters: dict[str, dict[str, Any]]  # as the deployment shows them: {"name": {"type", "value"?}}
    values: dict[str, Any]  # every parameter's value, secure ones included (never shown)
    outputs: dict[str, dict[str, Any]]


def template_hash(template: dict[str, Any]) -> str:
    """A stable 19-digit hash, the shape of ARM's `templateHash`."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return str(int.from_bytes(digest[:8], "big") % 10**19).rjust(19, "0")


def evaluate(template: Any, supplied: dict[str, Any], group: ResourceGroup,
             secret: Callable[[dict[str, Any], str], str]) -> Evaluated:
    """The template's resources for `group`, given the deployment's parameters; TemplateError as ARM answers.
    `secret(reference, parameter_name)` resolves a Key Vault reference (raising TemplateError when it cannot)."""
    if not isinstance(template, dict):
        raise TemplateError("The request content was invalid and could not be deserialized: 'template' must be "
                            "an object.", "InvalidRequestContent")
    for unsupported in ("functions", "copy", "condition"):
        if unsupported in template:
            raise validation_failed(f"The template uses '{unsupported}', which the local emulator does not "
                                    f"evaluate.")
    declared = template.get("parameters") or {}
    supplied = supplied or {}
    extra = sorted(set(supplied) - set(declared))
    if extra:
        raise validation_failed(
            f"The template parameters '{', '.join(extra)}' in the parameters file are not valid; they are not "
            f"present in the original template and can therefore not be provided at deployment time. The only "
            f"supported parameters for this template are '{', '.join(declared)}'.",
            "https://aka.ms/arm-pass-parameter-values")
    context = _Context(group, {}, {})
    shown: dict[str, dict[str, Any]] = {}
    for name, declaration in declared.items():
        kind = str(declaration.get("type", "")).lower()
        if kind not in PARAMETER_TYPES:
            raise validation_failed(f"The template parameter '{name}' has type '{declaration.get('type')}', "
                                    f"which is not one of {', '.join(PARAMETER_TYPES.values())}.")
        given = supplied.get(name)
        if isinstance(given, dict) and "reference" in given:
            value = secret(given["reference"], name)
        elif isinstance(given, dict) and "value" in given:
            value = given["value"]
        elif given is not None:
            raise TemplateError(f"The request content was invalid and could not be deserialized: parameter "
                                f"'{name}' must be an object with 'value' or 'reference'.", "InvalidRequestContent")
        elif "defaultValue" in declaration:
            value = context.value(declaration["defaultValue"])
        else:
            raise validation_failed(f"The value for the template parameter '{name}' at line '1' and column '1' "
                                    f"is not provided.", "https://aka.ms/arm-create-parameter-file")
        allowed = declaration.get("allowedValues")
        if allowed is not None and value not in allowed:
            raise validation_failed(f"The provided value '{value}' for the template parameter '{name}' is not "
                                    f"valid. The parameter value is not part of the allowed value(s): "
                                    f"'{','.join(map(str, allowed))}'.", "https://aka.ms/arm-syntax-parameters")
        context.parameters[name] = value
        shown[name] = {"type": PARAMETER_TYPES[kind]}
        if kind not in SECURE_TYPES:  # secure parameters are returned with their type only
            shown[name]["value"] = value
    for name, expression in (template.get("variables") or {}).items():
        if name == "copy":
            raise validation_failed("The template uses variable 'copy' loops, which the local emulator does not "
                                    "evaluate.")
        context.variables[name] = context.value(expression)
    declared_resources = template.get("resources") or []
    items = (list(declared_resources.items()) if isinstance(declared_resources, dict)
             else [(None, r) for r in declared_resources])
    resources = [_resource(symbolic, declaration, context) for symbolic, declaration in items]
    ids = [r.id.lower() for r in resources]
    duplicate = next((r.id for r in resources if ids.count(r.id.lower()) > 1), None)
    if duplicate:
        raise validation_failed(f"The resource '{duplicate}' is defined multiple times in a template.",
                                "https://aka.ms/arm-syntax-resources")
    outputs = {name: {"type": PARAMETER_TYPES.get(str(o.get("type", "")).lower(), o.get("type")),
                      "value": context.value(o.get("value"))}
               for name, o in (template.get("outputs") or {}).items()}
    return Evaluated(resources, shown, dict(context.parameters), outputs)


def _resource(symbolic: str | None, declaration: Any, context: _Context) -> DesiredResource:
    if not isinstance(declaration, dict):
        raise validation_failed("A template resource must be an object.")
    for unsupported in ("copy", "condition", "existing"):
        if unsupported in declaration:
            raise validation_failed(f"The resource '{symbolic or declaration.get('name')}' uses "
                                    f"'{unsupported}', which the local emulator does not evaluate.")
    missing = [key for key in ("type", "apiVersion", "name") if key not in declaration]
    if missing:
        raise validation_failed(f"The template resource '{symbolic or declaration.get('name', '?')}' is missing "
                                f"'{', '.join(missing)}'.", "https://aka.ms/arm-syntax-resources")
    type_ = context.value(declaration["type"])
    if str(type_).lower() == "microsoft.resources/deployments":
        raise validation_failed("Nested deployments are not evaluated by the local emulator.")
    name = context.value(declaration["name"])
    try:
        rid = resource_id(context.group.subscription, context.group.name, type_, name)
    except ValueError as error:
        raise validation_failed(f"The template resource '{name}' for type '{type_}' has incorrect segment "
                                f"lengths: {error}.", "https://aka.ms/arm-syntax-resources") from None
    depends = [str(context.value(d)) for d in declaration.get("dependsOn") or []]
    return DesiredResource(symbolic, type_, name, declaration["apiVersion"], rid,
                           context.value(declaration.get("location")), context.value(declaration.get("properties")
                                                                                     or {}),
                           context.value(declaration.get("tags")), context.value(declaration.get("sku")),
                           context.value(declaration.get("kind")), depends)


# ----- the expression language ------------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<punct>[()\[\].,]))")


class _Context:
    def __init__(self, group: ResourceGroup, parameters: dict[str, Any], variables: dict[str, Any]):
        self.group, self.parameters, self.variables = group, parameters, variables

    def value(self, raw: Any) -> Any:
        if isinstance(raw, dict):
            return {key: self.value(item) for key, item in raw.items()}
        if isinstance(raw, list):
            return [self.value(item) for item in raw]
        if isinstance(raw, str) and raw.startswith("[") and raw.endswith("]"):
            if raw.startswith("[["):
                return raw[1:]
            return _Parser(raw[1:-1], self).run()
        return raw

    def call(self, name: str, args: list[Any]) -> Any:
        function = name.lower()
        if function == "parameters":
            if args[0] not in self.parameters:
                raise validation_failed(f"The template parameter '{args[0]}' is not found.",
                                        "https://aka.ms/arm-syntax-parameters")
            return self.parameters[args[0]]
        if function == "variables":
            if args[0] not in self.variables:
                raise validation_failed(f"The template variable '{args[0]}' is not found.",
                                        "https://aka.ms/arm-syntax-variables")
            return self.variables[args[0]]
        if function == "resourcegroup":
            return {"id": self.group.id, "name": self.group.name, "location": self.group.location,
                    "type": "Microsoft.Resources/resourceGroups", "properties": {"provisioningState": "Succeeded"}}
        if function == "subscription":
            return {"id": f"/subscriptions/{self.group.subscription}", "subscriptionId": self.group.subscription,
                    "tenantId": TENANT}
        if function == "resourceid":
            strings = [str(a) for a in args]
            type_at = next((i for i, a in enumerate(strings) if "/" in a and "." in a.split("/")[0]), None)
            if type_at is None:
                raise validation_failed("resourceId() needs a resource type such as 'Microsoft.Web/sites'.")
            prefix, type_, names = strings[:type_at], strings[type_at], strings[type_at + 1:]
            subscription = prefix[0] if len(prefix) == 2 else self.group.subscription
            group = prefix[-1] if prefix else self.group.name
            try:
                return resource_id(subscription, group, type_, "/".join(names))
            except ValueError as error:
                raise validation_failed(f"Unable to evaluate template language function 'resourceId': {error}.")\
                    from None
        if function == "concat":
            if args and all(isinstance(a, list) for a in args):
                return [item for a in args for item in a]
            return "".join(_text(a) for a in args)
        if function == "format":
            return re.sub(r"\{(\d+)\}", lambda m: _text(args[1 + int(m[1])]), str(args[0]))
        if function in ("tolower", "toupper"):
            return str(args[0]).lower() if function == "tolower" else str(args[0]).upper()
        if function == "string":
            return _text(args[0])
        if function == "int":
            return int(args[0])
        if function == "bool":
            return args[0] if isinstance(args[0], bool) else str(args[0]).lower() == "true"
        if function in ("true", "false"):
            return function == "true"
        if function == "null":
            return None
        if function == "uniquestring":
            digest = hashlib.sha256("|".join(map(str, args)).encode()).digest()
            return "".join("abcdefghijklmnopqrstuvwxyz0123456789"[b % 36] for b in digest[:13])
        raise validation_failed(f"The template function '{name}' is not supported by the local emulator "
                                f"(it evaluates {', '.join(_FUNCTIONS)}).",
                                "https://aka.ms/arm-template-expressions")


_FUNCTIONS = ("parameters", "variables", "resourceGroup", "subscription", "resourceId", "concat", "format",
              "toLower", "toUpper", "string", "int", "bool", "true", "false", "null", "uniqueString")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"  # ARM's string(true) is 'True'
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


class _Parser:
    """Recursive descent over one expression: call, literal, then any number of `.name` / `[index]`."""

    def __init__(self, text: str, context: _Context):
        self.text, self.context = text, context
        self.tokens = self._tokenize(text)
        self.at = 0

    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                if text[position:].strip() == "":
                    break
                raise validation_failed(f"The language expression '{text}' is not valid: unexpected "
                                        f"'{text[position:position + 10]}'.", "https://aka.ms/arm-template-expressions")
            kind = match.lastgroup or ""
            tokens.append((kind, match[kind]))
            position = match.end()
        return tokens

    def _next(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise validation_failed(f"The language expression '{self.text}' is not valid: it ends too early.",
                                    "https://aka.ms/arm-template-expressions")
        token = self.tokens[self.at]
        self.at += 1
        return token

    def _peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def _expect(self, punct: str) -> None:
        kind, value = self._next()
        if value != punct:
            raise validation_failed(f"The language expression '{self.text}' is not valid: expected '{punct}', "
                                    f"found '{value}'.", "https://aka.ms/arm-template-expressions")

    def run(self) -> Any:
        value = self._expression()
        if self.at != len(self.tokens):
            raise validation_failed(f"The language expression '{self.text}' is not valid: unexpected "
                                    f"'{self.tokens[self.at][1]}'.", "https://aka.ms/arm-template-expressions")
        return value

    def _expression(self) -> Any:
        kind, token = self._next()
        if kind == "string":
            value: Any = token[1:-1].replace("''", "'")
        elif kind == "number":
            value = int(token)
        elif kind == "name":
            self._expect("(")
            args: list[Any] = []
            if self._peek() != ")":
                args.append(self._expression())
                while self._peek() == ",":
                    self._next()
                    args.append(self._expression())
            self._expect(")")
            value = self.context.call(token, args)
        else:
            raise validation_failed(f"The language expression '{self.text}' is not valid: unexpected '{token}'.",
                                    "https://aka.ms/arm-template-expressions")
        while self._peek() in (".", "["):
            if self._next()[1] == ".":
                key = self._next()[1]
                value = self._member(value, key)
            else:
                index = self._expression()
                self._expect("]")
                value = self._member(value, index)
        return value

    def _member(self, value: Any, key: Any) -> Any:
        try:
            if isinstance(value, dict):
                match = next((k for k in value if str(k).lower() == str(key).lower()), None)
                if match is None:
                    raise KeyError(key)
                return value[match]
            return value[int(key)]
        except (KeyError, IndexError, ValueError, TypeError):
            raise validation_failed(f"The language expression property '{key}' doesn't exist in "
                                    f"'{self.text}'.", "https://aka.ms/arm-template-expressions") from None
