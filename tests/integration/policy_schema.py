# SPDX-License-Identifier: Apache-2.0
"""Checks docs/policy.schema.json against the policy loader (`mtlsauthz lint`).

    python3 policy_schema.py CLI TOP

1. The schema is a valid draft-07 schema, every property has a description, and every object
   has `additionalProperties: false`.
2. Every policy in the repository that the CLI loads validates: the YAML files under examples/
   and tests/, the ```yaml blocks of the Markdown files, and the policies written inline in
   the bindings' tests and the shell tests (Go raw strings, Ruby heredocs, quoted shell
   heredocs, whole double-quoted strings).
3. The schema refuses, at every level, what the loader refuses: unknown keys, wrong enum
   values, missing required keys, empty lists, malformed pinned values. Each mutated policy is
   refused by the CLI too, so the schema is never stricter than the loader there.
4. Every ```yaml block in docs/*.md and README.md loads with `mtlsauthz lint` (exit 0 or 1),
   except a block whose first line is a `# error: ...` comment, which must be refused (exit
   2). A block that is a YAML list is a fragment: a list of rules or of principals validates
   against that part of the schema; a list of test cases is left to `mtlsauthz test`.

Prints one line per failure and "policy_schema: N passed, M failed"; exits 1 on a failure.
"""

import atexit
import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import jsonschema
import yaml

CLI, TOP = sys.argv[1], sys.argv[2]
SCHEMA_PATH = os.path.join(TOP, "docs", "policy.schema.json")
with open(SCHEMA_PATH, encoding="utf-8") as f:
    SCHEMA = json.load(f)
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
TMP = tempfile.mkdtemp(prefix="policy_schema.")
atexit.register(shutil.rmtree, TMP, True)

passed = 0
failed = 0


def ok():
    global passed
    passed += 1


def bad(what):
    global failed
    failed += 1
    print("FAIL " + what)


def lint(text):
    """Exit status and stderr of `mtlsauthz lint` on the policy text."""
    path = os.path.join(TMP, "policy.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    r = subprocess.run([CLI, "lint", path], capture_output=True, text=True, check=False)
    return r.returncode, r.stderr.strip()


def errors(doc, schema=None):
    v = VALIDATOR if schema is None else jsonschema.Draft7Validator(schema)
    return ["%s: %s" % ("/".join(map(str, e.absolute_path)) or "(top)", e.message)
            for e in v.iter_errors(doc)]


# ---- 1. the schema itself ----

try:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    ok()
except jsonschema.SchemaError as e:
    bad("docs/policy.schema.json is not a valid draft-07 schema: %s" % e.message)


def walk(node, where):
    """Every object schema is closed, and every property has a description."""
    if isinstance(node, dict):
        if node.get("type") == "object" and node.get("additionalProperties") is not False:
            bad("%s: an object without additionalProperties: false" % where)
        for key, sub in node.get("properties", {}).items():
            if "description" not in sub and not where.startswith("/allOf"):
                bad("%s/%s: no description" % (where, key))
        for key, sub in node.items():
            walk(sub, where + "/" + key)
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            walk(sub, "%s/%d" % (where, i))


before = failed
walk(SCHEMA, "")
if failed == before:
    ok()


# ---- 2. every policy in the repository that loads validates ----

def candidates():
    """(where, text) of every policy-like text in the repository."""
    for pattern in ("examples/**/*.yaml", "tests/**/*.yaml", "bindings/**/*.yaml"):
        for path in sorted(glob.glob(os.path.join(TOP, pattern), recursive=True)):
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                yield os.path.relpath(path, TOP), f.read()
    for path in markdown_files(all_of_them=True):
        for line, _, text in yaml_blocks(path):
            yield "%s:%d" % (os.path.relpath(path, TOP), line), text
    sources = []
    for pattern in ("bindings/**/*.go", "examples/**/*.go", "bindings/**/*.rb",
                    "examples/**/*.rb", "bindings/**/*.sh", "examples/**/*.sh",
                    "tests/integration/*.sh"):
        sources += sorted(glob.glob(os.path.join(TOP, pattern), recursive=True))
    for path in sources:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            src = f.read()
        rel = os.path.relpath(path, TOP)
        # Go raw strings.
        for m in re.finditer(r"`(version: 1\n[^`]*)`", src):
            yield "%s:%d" % (rel, src.count("\n", 0, m.start()) + 1), m.group(1)
        # Ruby heredocs and quoted shell heredocs (no interpolation).
        for m in re.finditer(r"<<([~-]?)(['\"]?)([A-Z]+)\2[^\n]*\n(.*?)\n[ \t]*\3\n", src, re.S):
            body = m.group(4) + "\n"
            if m.group(1) == "~":
                lines = body.split("\n")
                indent = min((len(l) - len(l.lstrip(" ")) for l in lines if l.strip()),
                             default=0)
                body = "\n".join(l[indent:] for l in lines)
            if (path.endswith(".sh") and m.group(2) == "") or "#{" in body:
                continue
            if re.match(r"\s*(#.*\n\s*)*version:", body):
                yield "%s:%d" % (rel, src.count("\n", 0, m.start()) + 1), body
        # A whole double-quoted string (Go, Ruby) that is a policy, not a piece of one.
        for m in re.finditer(r'"(version: 1\\n(?:[^"\\]|\\.)*)"(?!\s*[+.#])', src):
            if "#{" in m.group(1):
                continue
            try:
                body = m.group(1).encode("latin-1", "backslashreplace").decode("unicode_escape")
            except UnicodeDecodeError:
                continue
            yield "%s:%d" % (rel, src.count("\n", 0, m.start()) + 1), body
    # The unit tests' policies: adjacent C string literals (comments between them allowed)
    # that start with "version: 1\n" and are not continued by a macro.
    lit = re.compile(r'\s*(?:"((?:[^"\\\n]|\\.)*)"|/\*.*?\*/)', re.S)
    for path in sorted(glob.glob(os.path.join(TOP, "tests", "unit", "*.c"))):
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            src = f.read()
        rel = os.path.relpath(path, TOP)
        for m in re.finditer(r'"version: 1\\n', src):
            at, parts = m.start(), []
            while True:
                t = lit.match(src, at)
                if not t or t.end() == at:
                    break
                if t.group(1) is not None:
                    parts.append(t.group(1))
                at = t.end()
            if not re.match(r"\s*[,);]", src[at:]):
                continue  # continued by a macro or an expression: a piece of a policy
            try:
                body = "".join(parts).encode("latin-1").decode("unicode_escape")
            except (UnicodeEncodeError, UnicodeDecodeError):
                continue
            yield "%s:%d" % (rel, src.count("\n", 0, m.start()) + 1), body


def markdown_files(all_of_them=False):
    files = sorted(glob.glob(os.path.join(TOP, "docs", "*.md")))
    files.append(os.path.join(TOP, "README.md"))
    if all_of_them:
        files += sorted(glob.glob(os.path.join(TOP, "bindings", "*", "README.md")))
        files += sorted(glob.glob(os.path.join(TOP, "examples", "*", "README.md")))
    return files


def yaml_blocks(path):
    """(line, first line, text) of each ```yaml block."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```yaml":
            start = i + 1
            j = start
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            body = "\n".join(lines[start:j]) + "\n"
            yield start + 1, lines[start] if start < j else "", body
            i = j
        i += 1


loaded = 0
refused = 0
for where, text in candidates():
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict) or "\0" in text:
        continue
    rc, _ = lint(text)
    if rc == 2:
        refused += 1  # an error case of some test; the loader refuses it
        continue
    loaded += 1
    errs = errors(doc)
    if errs:
        bad("%s loads but does not validate: %s" % (where, "; ".join(errs[:3])))
    else:
        ok()
print("policy_schema: %d policies in the repository load, and were validated; %d more are "
      "refused by the loader (error cases) and were not" % (loaded, refused))
# The crawl must find the examples and the bindings' and tests' policies, not nothing.
if loaded < 60:
    bad("only %d policies that load were found (%d refused); the crawl is broken" %
        (loaded, refused))
else:
    ok()


# ---- 3. the schema refuses what the loader refuses ----

BASE = {
    "version": 1,
    "protocol": "http",
    "sensitive": ["POST /containers/*/exec"],
    "principals": [
        {"name": "builder", "spiffe": ["spiffe://prod.example.com/ci/builder"],
         "eku": ["clientAuth", "1.3.6.1.5.5.7.3.2"]},
        {"name": "ops", "o": ["Example Corp"], "ou": ["ops"], "serial": ["4f1a0c", "-12", "0"],
         "sha256": ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
         "ip": ["10.0.0.0/8", "192.0.2.10", "2001:db8::/32", "::1"]},
    ],
    "rules": [
        {"id": "build", "effect": "allow", "mode": "enforce", "principals": ["builder"],
         "operations": ["POST /images/build", "GET **"]},
        {"id": "no-exec", "effect": "deny", "mode": "dry-run", "principals": ["*", "ops"],
         "operations": ["POST /containers/*/exec", "**"]},
    ],
}


def as_yaml(doc):
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def check_base():
    errs = errors(BASE)
    rc, err = lint(as_yaml(BASE))
    if errs or rc == 2:
        bad("the base policy: schema %s, lint exit %d %s" % (errs, rc, err))
    else:
        ok()


def refused_by_both(what, mutate):
    doc = copy.deepcopy(BASE)
    mutate(doc)
    errs = errors(doc)
    rc, err = lint(as_yaml(doc))
    if not errs:
        bad("the schema accepts %s" % what)
    elif rc != 2:
        bad("the schema refuses %s, but the loader accepts it (lint exit %d)" % (what, rc))
    else:
        ok()


def put(path, value):
    def mutate(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def drop(path):
    def mutate(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return mutate


check_base()
P0, R0 = ["principals", 0], ["rules", 0]
cases = [
    # Unknown keys, at every level.
    ("an unknown top-level key", put(["pricipals"], [])),
    ("an unknown principal key", put(P0 + ["spife"], ["spiffe://a/b"])),
    ("an unknown rule key", put(R0 + ["efect"], "allow")),
    # Enums.
    ("effect: permit", put(R0 + ["effect"], "permit")),
    ("effect: Allow", put(R0 + ["effect"], "Allow")),
    ("effect: 1", put(R0 + ["effect"], 1)),
    ("mode: dryrun", put(R0 + ["mode"], "dryrun")),
    ("protocol: grpc", put(["protocol"], "grpc")),
    ("version: 2", put(["version"], 2)),
    # Missing required keys.
    ("no version", drop(["version"])),
    ("no rules", drop(["rules"])),
    ("a rule without an id", drop(R0 + ["id"])),
    ("a rule without an effect", drop(R0 + ["effect"])),
    ("a rule without principals", drop(R0 + ["principals"])),
    ("a rule without operations", drop(R0 + ["operations"])),
    ("a principal without a name", drop(P0 + ["name"])),
    ("a principal with a name only", lambda d: d["principals"].append({"name": "x"})),
    # Empty lists and wrong types.
    ("rules: []", put(["rules"], [])),
    ("principals: []", put(["principals"], [])),
    ("cn: []", put(P0 + ["cn"], [])),
    ("operations: []", put(R0 + ["operations"], [])),
    ("operations as a string", put(R0 + ["operations"], "POST /images/build")),
    ("a rule that is a list", put(["rules", 1], ["x"])),
    ("an empty operation", put(R0 + ["operations"], [""])),
    # Names.
    ("a principal named *", put(P0 + ["name"], "*")),
    ("a newline in a rule id", put(R0 + ["id"], "a\nb")),
    ("a C1 control in a principal name", put(P0 + ["name"], "a\u0085b")),
    ("an empty id", put(R0 + ["id"], "")),
    ("a 257-byte id", put(R0 + ["id"], "r" * 257)),
    # Pinned and formatted values.
    ("an uppercase sha256", put(P0 + ["sha256"], ["9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"])),
    ("a 63-digit sha256", put(["principals", 1, "sha256"], ["9" * 63])),
    ("a serial with a leading zero", put(["principals", 1, "serial"], ["04f"])),
    ("a serial with colons", put(["principals", 1, "serial"], ["4f:1a"])),
    ("serial -0", put(["principals", 1, "serial"], ["-0"])),
    ("an uppercase SPIFFE trust domain", put(P0 + ["spiffe"], ["spiffe://Prod.example.com/a"])),
    ("a SPIFFE ID without the scheme", put(P0 + ["spiffe"], ["prod.example.com/a"])),
    ("an unknown EKU", put(P0 + ["eku"], ["clientauth"])),
    ("an OID arc with a leading zero", put(P0 + ["eku"], ["1.03.6"])),
    ("an IPv4 octet over 255", put(["principals", 1, "ip"], ["10.0.0.256"])),
    ("an IPv4 prefix over 32", put(["principals", 1, "ip"], ["10.0.0.0/33"])),
    ("an IPv4 address with a leading zero", put(["principals", 1, "ip"], ["10.0.0.01"])),
    ("an IPv6 prefix over 128", put(["principals", 1, "ip"], ["2001:db8::/129"])),
    ("a host name in ip", put(["principals", 1, "ip"], ["example.com"])),
    # protocol: http.
    ("a path without a method under protocol http", put(R0 + ["operations"], ["/host/**"])),
    ("a named operation under protocol http", put(R0 + ["operations"], ["images:build"])),
    ("a named sensitive pattern under protocol http", put(["sensitive"], ["host:**"])),
]
for what, mutate in cases:
    refused_by_both(what, mutate)

# What protocol http refuses is fine without it.
doc = copy.deepcopy(BASE)
del doc["protocol"]
doc["rules"][0]["operations"] = ["images:build", "/pkg.Service/Method"]
doc["sensitive"] = ["host:**"]
errs = errors(doc)
rc, err = lint(as_yaml(doc))
if errs or rc == 2:
    bad("named operations without protocol http: schema %s, lint exit %d %s" % (errs, rc, err))
else:
    ok()


# ---- 4. every example in the docs loads ----

FRAGMENT_SCHEMAS = {
    kind: {"$ref": "#/definitions/" + kind, "definitions": SCHEMA["definitions"]}
    for kind in ("rule", "principal")
}

blocks = 0
for path in markdown_files():
    rel = os.path.relpath(path, TOP)
    for line, first, text in yaml_blocks(path):
        blocks += 1
        where = "%s:%d" % (rel, line)
        if first.startswith("# error:"):
            rc, err = lint(text)
            if rc != 2:
                bad("%s: a '# error:' example, but lint exits %d" % (where, rc))
            else:
                ok()
            continue
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            bad("%s: not YAML: %s" % (where, e))
            continue
        if isinstance(doc, dict):
            rc, err = lint(text)
            errs = errors(doc)
            if rc == 2:
                bad("%s: lint refuses this example: %s" % (where, err))
            elif errs:
                bad("%s: does not validate: %s" % (where, "; ".join(errs[:3])))
            else:
                ok()
        elif isinstance(doc, list) and doc and all(isinstance(x, dict) for x in doc):
            if all("expect" in x for x in doc):
                ok()  # a tests file: `mtlsauthz test` reads those
                continue
            kind = "rule" if all("id" in x for x in doc) else "principal"
            errs = []
            for x in doc:
                errs += errors(x, FRAGMENT_SCHEMAS[kind])
            if errs:
                bad("%s: a %s that does not validate: %s" % (where, kind, "; ".join(errs[:3])))
            else:
                ok()
        else:
            bad("%s: neither a policy nor a list of rules, principals or test cases" % where)
if blocks < 5:
    bad("only %d ```yaml blocks found in the docs" % blocks)

print("policy_schema: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
