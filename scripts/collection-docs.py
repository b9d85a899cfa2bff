#!/usr/bin/env python3
"""Adapts a module's sidecar docs (library/<module>.yml) to the collection matrix.users.

    collection-docs.py SRC DEST MODULE...

The docs in library/ serve `ansible-doc -M library` in the checkout, where the modules have short
names, and carry each option's `no_log`, which tests/it/sidecar_docs.rs compares with the module's
option spec. In the collection (called by scripts/build-collection.sh), line by line, so the
text stays as written:
  - `no_log:` keys of options are dropped: Ansible's documentation schema has no such key
    (ansible-test's validate-modules rejects it); the modules mask those values themselves;
  - the modules are named by FQCN, matrix.users.<module>, in `seealso` and in EXAMPLES tasks;
  - a `seealso` link without a description gets its name as description (the schema needs one);
  - an author without a GitHub handle is marked `(!UNKNOWN)`, the schema's word for that.
"""
import re
import sys

COLLECTION = "matrix.users"


def adapt(text, modules):
    out = []
    section = None
    names = "|".join(re.escape(m) for m in modules)
    module_key = re.compile(r"^(\s+(?:- )?)(%s):(\s*)$" % names)
    seealso_module = re.compile(r"^(\s+- module: )(%s)\s*$" % names)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        top = re.match(r"^([A-Z_]+):", line)
        if top:
            section = top.group(1)
            out.append(line)
            continue
        if section == "DOCUMENTATION":
            if re.match(r"^\s+no_log:\s*\S+\s*$", line):
                continue
            m = seealso_module.match(line)
            if m:
                out.append("%s%s.%s" % (m.group(1), COLLECTION, m.group(2)))
                continue
            m = re.match(r"^(\s+)- name: (.+?)\s*$", line)
            if m and i + 1 < len(lines) and re.match(r"^\s+link:", lines[i + 1]):
                following = lines[i + 1:i + 4]
                out.append(line)
                if not any(re.match(r"^\s+description:", f) for f in following[1:3]):
                    out.append("%s  description: %s." % (m.group(1), m.group(2).rstrip(".")))
                continue
            if re.match(r"^\s+- ", line) and out and re.match(r"^\s+author:\s*$", _last_key(out)):
                if not re.search(r"\(@[\w-]+\)|!UNKNOWN", line):
                    line = line.rstrip() + " (!UNKNOWN)"
        elif section == "EXAMPLES":
            m = module_key.match(line)
            if m:
                line = "%s%s.%s:%s" % (m.group(1), COLLECTION, m.group(2), m.group(3))
        out.append(line)
    return "\n".join(out) + "\n"


def _last_key(out):
    """The nearest line above that opens a key (ends with ':'), skipping list items."""
    for line in reversed(out):
        if not re.match(r"^\s+- ", line):
            return line
    return ""


def main():
    src, dest, modules = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(src, encoding="utf-8") as f:
        text = f.read()
    with open(dest, "w", encoding="utf-8") as f:
        f.write(adapt(text, modules))


if __name__ == "__main__":
    main()
