#!/usr/bin/env python3
"""Checks that README.md's options table (under "## Options") and the OPTIONS
section of `ringcast --help` name the same options, so that the docs cannot
drift from the table the program is built from.

usage: options_doc.py RINGCAST README.md"""
import re
import subprocess
import sys


def readme_options(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    section = re.search(r"^## Options\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not section:
        sys.exit(f"{path}: no '## Options' section")
    names = []
    for line in section.group(1).splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        # The first cell, up to the first '|' that is not escaped.
        first = re.split(r"(?<!\\)\|", line)[1]
        names += re.findall(r"`--([a-z0-9-]+)", first)
    return names


def help_options(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True,
                         check=True).stdout
    section = re.search(r"^OPTIONS\n(.*?)(?=^\S|\Z)", out, re.S | re.M)
    if not section:
        sys.exit(f"{binary} --help: no OPTIONS section")
    return re.findall(r"^ {4}--([a-z0-9-]+)", section.group(1), re.M)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.rsplit("\n", 1)[-1])
    binary, readme = sys.argv[1], sys.argv[2]
    in_help, in_readme = help_options(binary), readme_options(readme)
    problems = []
    for where, names in (("--help", in_help), ("README.md", in_readme)):
        seen = set()
        for n in names:
            if n in seen:
                problems.append(f"{where} names --{n} twice")
            seen.add(n)
    for n in sorted(set(in_help) - set(in_readme)):
        problems.append(f"--{n} is in --help but not in README.md's options table")
    for n in sorted(set(in_readme) - set(in_help)):
        problems.append(f"--{n} is in README.md's options table but not in --help")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"{len(in_help)} options, the same in --help and README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
