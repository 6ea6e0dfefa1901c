#!/usr/bin/env python3
"""Writes man pages (roff) from swift-argument-parser's own model of a command line.

    dispatch-cloud --experimental-dump-help | scripts/generate-man.py --section 1 > dispatch-cloud.1

The JSON is ArgumentParser's ToolInfo (the input of its generate-manual plugin); one page holds the command and
every subcommand, so `man dispatch-cloud` shows the whole tool. With --plain NAME, reads plain --help text
instead (for dispatch-runner, whose command line is crunch-run's and not ArgumentParser's).
"""
import argparse
import datetime
import json
import sys
import unicodedata


ASCII = {"\u2026": "...", "\u2014": "--", "\u2013": "-", "\u2192": "->", "\u2018": "'", "\u2019": "'",
         "\u201c": '"', "\u201d": '"', "\u00d7": "x", "\u2264": "<=", "\u2265": ">="}


def ascii_for(char):
    if char in ASCII:
        return ASCII[char]
    decomposed = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    return decomposed or "?"


def esc(text):
    """Escapes text for roff: backslashes, and a leading dot or quote."""
    text = (text or "").replace("\\", "\\e")
    # ASCII only, so the page renders the same in every locale and on groff's ascii device.
    text = "".join(c if ord(c) < 128 else ascii_for(c) for c in text)
    lines = []
    for line in text.split("\n"):
        if line.startswith(".") or line.startswith("'"):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def names(argument):
    out = []
    for name in argument.get("names", []):
        kind = name.get("kind")
        if kind == "long":
            out.append("--" + name["name"])
        elif kind == "short":
            out.append("-" + name["name"])
        elif kind == "longWithSingleDash":
            out.append("-" + name["name"])
    return out


def synopsis(argument):
    kind = argument.get("kind")
    value = argument.get("valueName") or "value"
    if kind == "positional":
        text = "<" + value + ">"
    elif kind == "flag":
        text = (names(argument) or ["?"])[0]
    else:
        text = (names(argument) or ["?"])[0] + " <" + value + ">"
    if argument.get("isRepeating"):
        text += " ..."
    if argument.get("isOptional"):
        text = "[" + text + "]"
    return text


def describe(command, path, out, top):
    arguments = [a for a in command.get("arguments", []) if a.get("shouldDisplay", True)]
    arguments = [a for a in arguments if not set(names(a)) & {"--help", "-h", "--version"} or top]
    if top:
        out.append(".SH SYNOPSIS")
    else:
        out.append(".SH " + esc(" ".join(path).upper()))
        if command.get("abstract"):
            out.append(esc(command["abstract"]))
            out.append(".PP")
    out.append(".B " + esc(" ".join(path)))
    usage = [synopsis(a) for a in arguments if not set(names(a)) & {"--help", "-h", "--version"}]
    if command.get("subcommands"):
        usage.append("<subcommand>")
    if usage:
        out.append(esc(" ".join(usage)))
    if top:
        out.append(".SH DESCRIPTION")
        out.append(esc(command.get("abstract", "")))
    if command.get("discussion"):
        out.append(".PP")
        out.append(esc(command["discussion"]))
    shown = [a for a in arguments if not set(names(a)) & {"--help", "-h"}]
    if shown:
        out.append(".PP")
        out.append("Options:")
        for argument in shown:
            label = ", ".join(names(argument)) if argument.get("kind") != "positional" else "<" + (
                argument.get("valueName") or "value") + ">"
            if argument.get("kind") == "option":
                label += " <" + (argument.get("valueName") or "value") + ">"
            out.append(".TP")
            out.append(".B " + esc(label))
            text = argument.get("abstract", "")
            if argument.get("defaultValue") not in (None, ""):
                text += " (default: " + str(argument["defaultValue"]) + ")"
            if argument.get("discussion"):
                discussion = argument["discussion"]
                if isinstance(discussion, dict):
                    discussion = " ".join(str(v) for v in discussion.values())
                text += " " + str(discussion)
            out.append(esc(text))
    for sub in command.get("subcommands", []):
        describe(sub, path + [sub["commandName"]], out, False)


def header(name, section, source):
    date = datetime.date.today().isoformat()
    return ['.TH "%s" "%s" "%s" "%s" "User Commands"' % (esc(name.upper()), section, date, esc(source)),
            ".SH NAME"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--section", default="1")
    parser.add_argument("--source", default="DispatchCloud")
    parser.add_argument("--plain", metavar="NAME", help="read plain --help text for the command NAME")
    parser.add_argument("--abstract", default="")
    options = parser.parse_args()
    text = sys.stdin.read()
    if options.plain:
        out = header(options.plain, options.section, options.source)
        out.append(esc(options.plain) + " \\- " + esc(options.abstract))
        out.append(".SH DESCRIPTION")
        out.append(".nf")
        out.append(esc(text.rstrip("\n")))
        out.append(".fi")
    else:
        tool = json.loads(text)
        command = tool["command"]
        name = command["commandName"]
        out = header(name, options.section, options.source)
        out.append(esc(name) + " \\- " + esc(command.get("abstract", "")))
        describe(command, [name], out, True)
        out.append(".SH EXIT STATUS")
        out.append("0 on success, 1 for a runtime failure, 2 for a usage or configuration error.")
        out.append(".SH SEE ALSO")
        out.append("dispatch-runner(1), /usr/share/doc/dispatch-cloud/operations.md")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
