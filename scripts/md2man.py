#!/usr/bin/env python3
"""md2man: ferry's man pages from their markdown sources (docs/*.md), the single source.

    scripts/md2man.py [--version V] [--date YYYY-MM-DD] SRC.md > OUT.roff

Only the markdown those pages use, nothing else (an unknown construct is plain text):
  # name(S)            the title: .TH NAME S DATE "ferry V" TITLE-OF-SECTION
  ## X, ### X          .SH X, .SS X
  #### X               a directive or command: X in bold, its text indented below it
  paragraphs           filled text; `code` and **x** bold, *x* italic, [text](url) "text <url>"
  - item, 1. item      .IP with a bullet or the number; continuation lines indented
  ``` fenced code      .EX/.EE, indented
  | a | b | tables     tbl(1), header row in bold, cells as text blocks (\\| is a literal |)
Under NAME, "name — what" becomes "name \\- what" (what lexgrog and apropos read). Anything
outside ASCII is written as \\[uXXXX], so the output is plain ASCII roff that groff and
mandoc read alike; mandoc -T lint and lexgrog are run on it by tests/integration/test_install.sh.
"""
import re
import sys

SECTION_TITLES = {"1": "User Commands", "5": "File Formats", "8": "System Administration"}


def esc_chars(s, code=False):
    """Escape roff specials in text (no markup): backslash, and non-ASCII as \\[uXXXX]."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\e")
        elif code and ch == "-":
            out.append("\\-")
        elif code and ch == "'":
            out.append("\\(aq")
        elif code and ch == "`":
            out.append("\\(ga")
        elif code and ch == "~":
            out.append("\\(ti")
        elif code and ch == "^":
            out.append("\\(ha")
        elif ord(ch) > 126 or (ord(ch) < 32 and ch != "\t"):
            out.append("\\[u%04X]" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])|\[([^\]]+)\]\(([^)]+)\)")


def inline(s, font="R"):
    """Markdown inline markup to roff, returning to font `font` after each span."""
    out, pos = [], 0
    s = s.replace("\\|", "|")
    for m in INLINE.finditer(s):
        out.append(esc_chars(s[pos:m.start()]))
        if m.group(1) is not None:
            out.append("\\fB" + esc_chars(m.group(1), code=True) + "\\f" + font)
        elif m.group(2) is not None:
            out.append("\\fB" + inline(m.group(2), "B") + "\\f" + font)
        elif m.group(3) is not None:
            out.append("\\fI" + inline(m.group(3), "I") + "\\f" + font)
        else:
            out.append(inline(m.group(4), font) + " <" + esc_chars(m.group(5)) + ">")
        pos = m.end()
    out.append(esc_chars(s[pos:]))
    return "".join(out)


def text_line(s):
    """One line of filled text: a leading . or ' would be a request."""
    s = s.strip()
    if s.startswith((".", "'")):
        s = "\\&" + s
    return s


def fill(lines, width=78):
    """A paragraph's text as roff input lines of at most `width` bytes where the words allow
    (mandoc -T lint flags longer ones), broken at spaces only."""
    words = inline(" ".join(l.strip() for l in lines if l.strip())).split(" ")
    out, cur = [], ""
    for w in words:
        if not w:
            continue
        if cur and len(cur) + 1 + len(w) > width:
            out.append(text_line(cur))
            cur = w
        else:
            cur = cur + " " + w if cur else w
    if cur:
        out.append(text_line(cur))
    return out


class Page:
    def __init__(self, version, date):
        self.out = []
        self.version = version
        self.date = date
        self.section = ""
        self.in_entry = False  # inside a #### entry's .RS

    def emit(self, *lines):
        for l in lines:
            # a paragraph right after a heading or an indent is implied (mandoc warns)
            if l == ".PP" and self.out and self.out[-1].startswith((".SH", ".SS", ".RS")):
                continue
            self.out.append(l)

    def close_entry(self):
        if self.in_entry:
            self.emit(".RE")
            self.in_entry = False

    def title(self, text):
        m = re.match(r"^(\S+)\((\d)\)$", text.strip())
        if not m:
            sys.exit("md2man: the first line must be '# name(section)', not %r" % text)
        name, sec = m.group(1), m.group(2)
        self.emit('.TH "%s" "%s" "%s" "ferry %s" "%s"' % (
            esc_chars(name.upper()), sec, self.date, self.version,
            SECTION_TITLES.get(sec, "")))
        # no hyphenation (options, paths and directives must read as written), ragged right
        self.emit(".nr HY 0", ".nh", ".ad l")

    def heading(self, level, text):
        self.close_entry()
        if level == 2:
            self.section = text.strip()
            self.emit(".SH " + esc_chars(self.section.upper()))
        elif level == 3:
            self.emit(".SS " + inline(text.strip()))
        else:
            self.emit(".PP", text_line("\\fB" + inline(text.strip(), "B") + "\\fR"), ".RS 4")
            self.in_entry = True

    def paragraph(self, lines):
        if self.section == "NAME":
            text = " ".join(l.strip() for l in lines)
            m = re.match(r"^(.*?)\s+(?:—|--|-)\s+(.*)$", text)
            if m:
                self.emit(esc_chars(m.group(1)) + " \\- " + inline(m.group(2)))
                return
        self.emit(".PP", *fill(lines))

    def code(self, lines):
        self.emit(".PP", ".RS 4", ".EX")
        for l in lines:
            l = esc_chars(l.expandtabs(4).rstrip(), code=True)
            if l.startswith((".", "'")):
                l = "\\&" + l
            self.emit(l)
        self.emit(".EE", ".RE")

    def item(self, mark, lines):
        tag = "\\(bu" if mark in "-*" else mark
        self.emit(".IP %s %d" % (tag, 2 if tag == "\\(bu" else 4), *fill(lines))

    def table(self, rows):
        cells = [[c.strip() for c in re.split(r"(?<!\\)\|", r.strip().strip("|"))] for r in rows]
        cells = [r for r in cells if not all(re.match(r"^:?-+:?$", c) for c in r)]
        n = max(len(r) for r in cells)
        # tab-separated; the first format line is the header's, the last every other row's
        self.emit(".PP", ".TS", "tab(\t);", " ".join(["lb"] * n),
                  " ".join(["l"] + ["lx"] * (n - 1)) + ".")
        for i, r in enumerate(cells):
            r = r + [""] * (n - len(r))
            font = "B" if i == 0 else "R"
            row = []
            for c in r:
                t = inline(c, font)
                row.append("T{\n" + text_line(t) + "\nT}" if t else "")
            self.emit("\t".join(row))
            if i == 0:
                self.emit("_")
        self.emit(".TE")

    def render(self, text):
        lines = text.split("\n")
        i = 0
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i == len(lines) or not lines[i].startswith("# "):
            sys.exit("md2man: no '# name(section)' title")
        self.title(lines[i][2:])
        i += 1
        while i < len(lines):
            l = lines[i]
            if not l.strip():
                i += 1
                continue
            m = re.match(r"^(#{2,4}) (.*)$", l)
            if m:
                self.heading(len(m.group(1)), m.group(2))
                i += 1
                continue
            if l.startswith("```"):
                j = i + 1
                while j < len(lines) and not lines[j].startswith("```"):
                    j += 1
                self.code(lines[i + 1:j])
                i = j + 1
                continue
            if l.lstrip().startswith("|"):
                j = i
                while j < len(lines) and lines[j].lstrip().startswith("|"):
                    j += 1
                self.table(lines[i:j])
                i = j
                continue
            m = re.match(r"^(\s*)([-*]|\d+\.) (.*)$", l)
            if m:
                body = [m.group(3)]
                j = i + 1
                while j < len(lines) and lines[j].strip() and lines[j].startswith("  ") \
                        and not re.match(r"^\s*([-*]|\d+\.) ", lines[j]):
                    body.append(lines[j])
                    j += 1
                self.item(m.group(2), body)
                i = j
                continue
            j = i
            body = []
            while j < len(lines) and lines[j].strip() and not re.match(
                    r"^(#{1,4} |```|\s*\||([-*]|\d+\.) )", lines[j]):
                body.append(lines[j])
                j += 1
            self.paragraph(body)
            i = j
        self.close_entry()
        return "\n".join(self.out) + "\n"


def main(argv):
    version, date, src = "0.0.0", "1970-01-01", None
    args = list(argv[1:])
    while args:
        a = args.pop(0)
        if a == "--version":
            version = args.pop(0)
        elif a == "--date":
            date = args.pop(0)
        elif src is None:
            src = a
        else:
            sys.exit("usage: md2man.py [--version V] [--date YYYY-MM-DD] SRC.md")
    if src is None:
        sys.exit("usage: md2man.py [--version V] [--date YYYY-MM-DD] SRC.md")
    with open(src, encoding="utf-8") as f:
        text = f.read()
    page = Page(version, date)
    sys.stdout.write('.\\" Generated from %s by scripts/md2man.py: edit that file instead.\n'
                     % src.split("/")[-1])
    sys.stdout.write(page.render(text))


if __name__ == "__main__":
    main(sys.argv)
