#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Parses Prometheus' text exposition format (version 0.0.4) strictly, from stdin.

Prints one line per sample, `name{label="value",...} value` with the labels sorted, so that a
shell test can compare exact lines. Exits 1, saying why, on anything the format does not allow:
a sample whose metric has no TYPE line before it, a TYPE that is not counter or gauge, a bad
name, label or value, an escape other than \\\\, \\" and \\n, a duplicate series, a counter that
is negative.
"""

import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def fail(n, line, why):
    sys.exit(f"prom.py: line {n}: {why}: {line!r}")


def labels(n, line, s, i):
    """Parses {k="v",...} from s[i] == "{"; returns (dict, index after "}")."""
    out = {}
    i += 1
    while s[i] != "}":
        m = LABEL.match(s, i)
        if not m:
            fail(n, line, "bad label name")
        key = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            fail(n, line, "label without =\"")
        i += 2
        value = []
        while s[i] != '"':
            if s[i] == "\\":
                esc = s[i + 1]
                if esc not in '\\"n':
                    fail(n, line, f"bad escape \\{esc}")
                value.append("\n" if esc == "n" else esc)
                i += 2
            elif s[i] == "\n":
                fail(n, line, "newline in a label value")
            else:
                value.append(s[i])
                i += 1
        i += 1
        if key in out:
            fail(n, line, f"label {key} twice")
        out[key] = "".join(value)
        if s[i] == ",":
            i += 1
        elif s[i] != "}":
            fail(n, line, "labels not separated by ,")
    return out, i + 1


def main():
    text = sys.stdin.buffer.read().decode("utf-8")
    if not text.endswith("\n"):
        sys.exit("prom.py: the text does not end in a newline")
    types = {}
    seen = set()
    out = []
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                if parts[3:] not in (["counter"], ["gauge"]) or not NAME.fullmatch(parts[2]):
                    fail(n, line, "bad TYPE line")
                if parts[2] in types:
                    fail(n, line, "TYPE given twice")
                types[parts[2]] = parts[3]
            elif len(parts) >= 3 and parts[1] == "HELP":
                if not NAME.fullmatch(parts[2]):
                    fail(n, line, "bad HELP line")
            continue
        m = NAME.match(line)
        if not m:
            fail(n, line, "bad metric name")
        name = m.group(0)
        i = m.end()
        lab = {}
        if i < len(line) and line[i] == "{":
            try:
                lab, i = labels(n, line, line, i)
            except IndexError:
                fail(n, line, "unterminated labels")
        if line[i:i + 1] != " ":
            fail(n, line, "no space before the value")
        value = line[i + 1:]
        try:
            v = float(value)
        except ValueError:
            fail(n, line, "bad value")
        if name not in types:
            fail(n, line, "sample before its TYPE line")
        if types[name] == "counter" and (v < 0 or math.isnan(v)):
            fail(n, line, "negative counter")
        key = (name, tuple(sorted(lab.items())))
        if key in seen:
            fail(n, line, "duplicate series")
        seen.add(key)
        rendered = ",".join(f'{k}="{v}"' for k, v in sorted(lab.items()))
        out.append(f"{name}{{{rendered}}} {value}" if lab else f"{name} {value}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
