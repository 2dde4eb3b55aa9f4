# help2roff.awk: a man page (roff, man macros) from a ringcast program's
# --help text, which is already laid out as a manual: unindented capital
# lines are section names (NAME, SYNOPSIS, DESCRIPTION, OPTIONS, ...), text
# is indented four spaces, and an option starts with '-' and has its
# description two or more spaces to the right (or on the lines below, more
# indented). Written here rather than using help2man because help2man
# expects GNU-style help (a usage line, then an option list) and would
# print these sections as plain paragraphs under sections of its own.
#
# Usage: awk -v name=ringcast -v section=1 -v version=0.1.0 \
#            -v date=2026-12-04 -f help2roff.awk HELP.txt > ringcast.1
# Lines before the first section (ringcast-pub prints its usage first)
# become the SYNOPSIS, after NAME, when the next section is not one.

function esc(s) {
	gsub(/\\/, "\\e", s)
	return s
}

# Options and their arguments: hyphens are minus signs (\-), so that the
# page can be searched and copied; the option bold, its argument italic.
function term(s,    out, n, i, w, parts) {
	s = esc(s)
	n = split(s, parts, /, /)
	out = ""
	for (i = 1; i <= n; i++) {
		w = parts[i]
		if (match(w, /^-+[^ =]*/)) {
			opt = substr(w, 1, RLENGTH)
			rest = substr(w, RLENGTH + 1)
			gsub(/-/, "\\-", opt)
			w = "\\fB" opt "\\fR" (rest != "" ? "\\fI" rest "\\fR" : "")
		}
		out = out (i > 1 ? ", " : "") w
	}
	return out
}

# A text line: roff takes a leading '.' or "'" as a request.
function text(s) {
	s = esc(s)
	sub(/^[ \t]+/, "", s)
	if (s ~ /^[.']/)
		s = "\\&" s
	return s
}

function flush_pre() {
	if (npre > 0 && !has_synopsis) {
		print ".SH SYNOPSIS"
		print ".nf"
		for (i = 1; i <= npre; i++) {
			l = pre[i]
			sub(/^usage: /, "", l)
			print text(l)
		}
		print ".fi"
	}
	npre = 0
}

BEGIN {
	if (name == "" || section == "") {
		print "help2roff.awk: set -v name=PROGRAM -v section=N" > "/dev/stderr"
		exit 2
	}
	printf ".TH %s %s \"%s\" \"ringcast %s\" \"ringcast manual\"\n", toupper(name), section, date, version
	cur = ""
	npre = 0
	seen_section = 0
	in_item = 0
}

{
	line = $0
	sub(/[ \t]+$/, "", line)
}

# Everything before the first section name.
!seen_section && line !~ /^[A-Z][A-Z ]*( \(.*\))?$/ {
	if (line != "")
		pre[++npre] = line
	next
}

line ~ /^[A-Z][A-Z ]*( \(.*\))?$/ {
	seen_section = 1
	if (line == "SYNOPSIS")
		has_synopsis = 1
	if (cur == "SYNOPSIS" || cur == "EXAMPLES")
		print ".fi"
	# The usage lines printed before NAME go right after it.
	if (cur == "NAME")
		flush_pre()
	cur = line
	in_item = 0
	print ".SH \"" line "\""
	if (line == "SYNOPSIS" || line == "EXAMPLES")
		print ".nf"
	next
}

# Verbatim sections: command lines keep their own line breaks.
cur == "SYNOPSIS" || cur == "EXAMPLES" {
	if (line == "")
		next
	l = line
	sub(/^    /, "", l)
	# The program's own path (argv[0]) stands for its name.
	if (cur == "SYNOPSIS")
		sub(/^[^ ]*\/[^ \/]+/, name, l)
	print esc(l)
	next
}

cur == "NAME" {
	if (line == "")
		next
	l = text(line)
	# The first " - " separates the name from the summary: a minus for whatis.
	if (!name_done) {
		sub(/ - /, " \\- ", l)
		name_done = 1
	}
	print l
	next
}

line == "" {
	in_item = 0
	blank = 1
	next
}

# An item: an option (or an exit status) at the start of the line, then two
# or more spaces and its description, or the description below it.
{
	indent = match(line, /[^ ]/) - 1
	body = substr(line, indent + 1)
	is_item = 0
	if (indent >= 2 && indent <= 8 && (body ~ /^-/ || (cur == "EXIT STATUS" && body ~ /^[0-9]+ /))) {
		if (match(body, /  +/)) {
			t = substr(body, 1, RSTART - 1)
			d = substr(body, RSTART + RLENGTH)
		} else {
			t = body
			d = ""
		}
		is_item = 1
	}
	if (is_item) {
		print ".TP"
		print term(t)
		if (d != "")
			print text(d)
		in_item = 1
		item_indent = indent
		blank = 0
		next
	}
	if (in_item && indent > item_indent) {
		print text(line)
		next
	}
	in_item = 0
	if (blank) {
		print ".PP"
		blank = 0
	}
	print text(line)
}

END {
	if (cur == "SYNOPSIS" || cur == "EXAMPLES")
		print ".fi"
}
