//! Expected outputs written from Go's text/template and fmt semantics and docker's docs.

use serde_json::{json, Value};

use super::*;

fn r(format: &str, data: &Value) -> String {
    match render(format, data) {
        Ok(s) => s,
        Err(e) => panic!("{format:?}: {e}"),
    }
}

fn e(format: &str, data: &Value) -> String {
    match render(format, data) {
        Ok(s) => panic!("{format:?} rendered {s:?}, expected an error"),
        Err(e) => e.to_string(),
    }
}

fn container() -> Value {
    json!({
        "Id": "4a5b6c7d8e9f",
        "Name": "/web",
        "Args": ["-g", "daemon off;"],
        "State": {"Status": "running", "Pid": 4242, "Running": true, "ExitCode": 0},
        "Config": {"Image": "nginx", "Labels": {"com.example": "yes", "tier": "front"}, "Env": ["A=1", "B=2"]},
        "Mounts": [{"Source": "/srv/a", "Destination": "/a"}, {"Source": "/srv/b", "Destination": "/b"}],
        "Ports": {},
        "Empty": "",
        "Nothing": null,
        "Ratio": 0.25,
    })
}

#[test]
fn text_fields_and_dot() {
    let c = container();
    assert_eq!(r("plain text", &c), "plain text");
    assert_eq!(r("{{.State.Status}}", &c), "running");
    assert_eq!(
        r("pid={{.State.Pid}} running={{.State.Running}}", &c),
        "pid=4242 running=true"
    );
    assert_eq!(r("{{.Name}}", &c), "/web");
    assert_eq!(r("{{.Args}}", &c), "[-g daemon off;]");
    assert_eq!(
        r("{{.Config.Labels}}", &c),
        "map[com.example:yes tier:front]"
    );
    assert_eq!(r("{{.Nothing}}", &c), "<nil>");
    assert_eq!(r("{{.Ratio}}", &c), "0.25");
    assert_eq!(r("{{.Config.Labels.tier}}", &c), "front");
    assert_eq!(r("{{.}}", &json!("x")), "x");
    assert_eq!(r("{{$.Name}}", &c), "/web");
    assert_eq!(r("{{(.State).Status}}", &c), "running");
}

#[test]
fn json_function_matches_docker() {
    let c = container();
    assert_eq!(
        r("{{json .State}}", &c),
        r#"{"ExitCode":0,"Pid":4242,"Running":true,"Status":"running"}"#
    );
    assert_eq!(r("{{json .Args}}", &c), r#"["-g","daemon off;"]"#);
    // docker turns HTML escaping off.
    assert_eq!(r("{{json .}}", &json!("<a&b>")), r#""<a&b>""#);
    assert_eq!(
        r("{{json .}}", &json!({"f": 1.0, "g": 1e21, "h": 1e-7})),
        r#"{"f":1,"g":1e+21,"h":1e-7}"#
    );
    assert_eq!(r("{{json .Nothing}}", &c), "null");
    assert_eq!(
        r("{{json .}}", &json!("tab\there\u{1}")),
        r#""tab\there\u0001""#
    );
}

#[test]
fn docker_functions() {
    let c = container();
    assert_eq!(r(r#"{{join .Args ","}}"#, &c), "-g,daemon off;");
    assert_eq!(r(r#"{{split "a:b:c" ":"}}"#, &c), "[a b c]");
    assert_eq!(r(r#"{{index (split "a:b:c" ":") 1}}"#, &c), "b");
    assert_eq!(r("{{.Name | upper}}", &c), "/WEB");
    assert_eq!(r(r#"{{lower "ABC"}}"#, &c), "abc");
    assert_eq!(r(r#"{{title "hello wide-world"}}"#, &c), "Hello Wide-World");
    assert_eq!(r(r#"{{truncate "abcdef" 3}}"#, &c), "abc");
    assert_eq!(r(r#"{{truncate "ab" 3}}"#, &c), "ab");
    assert_eq!(r(r#"[{{pad "x" 2 1}}]"#, &c), "[  x ]");
    assert_eq!(r(r#"[{{pad "" 2 1}}]"#, &c), "[]");
}

#[test]
fn builtins() {
    let c = container();
    assert_eq!(r(r#"{{index .Config.Labels "com.example"}}"#, &c), "yes");
    assert_eq!(r(r#"[{{index .Config.Labels "missing"}}]"#, &c), "[]");
    assert_eq!(r("{{index .Mounts 1 \"Source\"}}", &c), "/srv/b");
    assert_eq!(r("{{index .Args 0}}", &c), "-g");
    assert_eq!(
        r("{{len .Args}} {{len .Config.Labels}} {{len .Name}}", &c),
        "2 2 4"
    );
    assert_eq!(r("{{slice .Args 1}}", &c), "[daemon off;]");
    assert_eq!(r("{{slice .Name 1 3}}", &c), "we");
    assert_eq!(r("{{not .Empty}} {{not .Name}}", &c), "true false");
    assert_eq!(
        r(
            "{{and .Name .Empty}}|{{and .Name 1}}|{{or .Empty .Name}}|{{or .Empty 0}}",
            &c
        ),
        "|1|/web|0"
    );
    assert_eq!(r(r#"{{print "a" "b" 1 2 "c"}}"#, &c), "ab1 2c");
    assert_eq!(r(r#"{{println "a" 1}}"#, &c), "a 1\n");
    assert_eq!(
        r(r#"{{html "<a href='x'>&</a>"}}"#, &c),
        "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
    );
    // `and` short-circuits: the failing field is never evaluated.
    assert_eq!(r("{{and .Empty .No.Such}}", &c), "");
}

#[test]
fn comparisons() {
    let c = container();
    assert_eq!(
        r(
            r#"{{if eq .State.Status "running"}}up{{else}}down{{end}}"#,
            &c
        ),
        "up"
    );
    assert_eq!(
        r(r#"{{if eq .State.Status "exited" "running"}}up{{end}}"#, &c),
        "up"
    );
    assert_eq!(
        r(
            r#"{{ne .State.Pid 1}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1.5 2.5}}"#,
            &c
        ),
        "true true true true false"
    );
    assert_eq!(r("{{eq .Nothing .Name}}", &c), "false");
    assert_eq!(r("{{eq .State.ExitCode 0}}", &c), "true");
    assert_eq!(
        e("{{eq .State.Pid 1.5}}", &c),
        r#"template: :1:2: executing "" at <eq .State.Pid 1.5>: error calling eq: incompatible types for comparison"#
    );
    assert_eq!(
        e("{{lt .Nothing 1}}", &c),
        r#"template: :1:2: executing "" at <lt .Nothing 1>: error calling lt: invalid type for comparison"#
    );
}

#[test]
fn printf_verbs() {
    let c = container();
    assert_eq!(r(r#"{{printf "%-10s|" .Config.Image}}"#, &c), "nginx     |");
    assert_eq!(r(r#"{{printf "%10s|" "ab"}}"#, &c), "        ab|");
    assert_eq!(
        r(r#"{{printf "%d/%5d/%-5d/%05d" 1 2 3 -4}}"#, &c),
        "1/    2/3    /-0004"
    );
    assert_eq!(
        r(r#"{{printf "%v %v %v %v" 1 "s" true .Args}}"#, &c),
        "1 s true [-g daemon off;]"
    );
    assert_eq!(
        r(
            r#"{{printf "%q %t %x %X %o %b" "a\"b" false 255 255 8 5}}"#,
            &c
        ),
        r#""a\"b" false ff FF 10 101"#
    );
    assert_eq!(
        r(
            r#"{{printf "%5.2f|%.1f|%f|%e|%g" 3.14159 2.25 1.5 1234.5678 0.000012}}"#,
            &c
        ),
        " 3.14|2.2|1.500000|1.234568e+03|1.2e-05"
    );
    assert_eq!(
        r(r#"{{printf "%.3s|%x|%c|%%|%+d" "abcdef" "hi" 65 5}}"#, &c),
        "abc|6869|A|%|+5"
    );
    assert_eq!(r(r#"{{printf "%d" "x"}}"#, &c), "%!d(string=x)");
    assert_eq!(r(r#"{{printf "%s %s" "x"}}"#, &c), "x %!s(MISSING)");
    assert_eq!(r(r#"{{printf "%s" "x" 1}}"#, &c), "x%!(EXTRA int=1)");
    assert_eq!(
        r(r#"{{printf "%v" .Nothing}} {{printf "%T %T" 1 .Args}}"#, &c),
        "<nil> int []interface {}"
    );
    assert_eq!(
        r(r#"{{printf "%v %v %v" 1000000.0 123456.0 1e-5}}"#, &c),
        "1e+06 123456 1e-05"
    );
    assert_eq!(r(r#"{{.State.Pid | printf "pid %d"}}"#, &c), "pid 4242");
}

#[test]
fn control_structures() {
    let c = container();
    assert_eq!(
        r("{{range .Mounts}}{{.Source}} {{end}}", &c),
        "/srv/a /srv/b "
    );
    assert_eq!(
        r(
            "{{range $i, $m := .Mounts}}{{$i}}={{$m.Destination}};{{end}}",
            &c
        ),
        "0=/a;1=/b;"
    );
    assert_eq!(
        r(
            "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}",
            &c
        ),
        "com.example=yes,tier=front,"
    );
    assert_eq!(r("{{range .Ports}}x{{else}}none{{end}}", &c), "none");
    assert_eq!(r("{{range .Nothing}}x{{else}}nil{{end}}", &c), "nil");
    assert_eq!(
        r("{{range $v := .Args}}<{{$v}}>{{end}}", &c),
        "<-g><daemon off;>"
    );
    // `$` stays the top-level value inside nested ranges.
    assert_eq!(
        r(
            "{{range .Mounts}}{{range $.Args}}{{$.Name}}{{end}}|{{end}}",
            &c
        ),
        "/web/web|/web/web|"
    );
    assert_eq!(
        r(
            "{{range .Args}}{{if eq . \"-g\"}}{{continue}}{{end}}{{.}}{{end}}",
            &c
        ),
        "daemon off;"
    );
    assert_eq!(r("{{range .Args}}{{.}}{{break}}{{end}}", &c), "-g");
    assert_eq!(r("{{range 3}}{{.}}{{end}}", &c), "012");
    assert_eq!(r("{{with .State}}{{.Status}}{{end}}", &c), "running");
    assert_eq!(r("{{with .Empty}}x{{else}}empty{{end}}", &c), "empty");
    assert_eq!(
        r("{{with .Empty}}x{{else with .Name}}{{.}}{{end}}", &c),
        "/web"
    );
    assert_eq!(
        r(
            r#"{{if eq .State.Pid 1}}one{{else if eq .State.Pid 4242}}pid{{else}}other{{end}}"#,
            &c
        ),
        "pid"
    );
    assert_eq!(
        r("{{if .Nothing}}a{{else if .Empty}}b{{else}}c{{end}}", &c),
        "c"
    );
    assert_eq!(r("{{if and .Name (not .Empty)}}ok{{end}}", &c), "ok");
    assert_eq!(
        r("{{if .Ports}}x{{else}}{{if not 0}}zero{{end}}{{end}}", &c),
        "zero"
    );
}

#[test]
fn variables_and_assignment() {
    let c = container();
    assert_eq!(r("{{$x := .Name}}{{$x}}", &c), "/web");
    assert_eq!(
        r(r#"{{$x := "a"}}{{if true}}{{$x = "b"}}{{end}}{{$x}}"#, &c),
        "b"
    );
    assert_eq!(
        r(
            r#"{{$n := 0}}{{range .Args}}{{$n = len .}}{{end}}{{$n}}"#,
            &c
        ),
        "11"
    );
    assert_eq!(
        r("{{$s := .State}}{{$s.Status}} {{$s.Pid}}", &c),
        "running 4242"
    );
    assert_eq!(e("{{$y}}", &c), r#"template: :1: undefined variable "$y""#);
    // A variable declared in a control's body ends with it.
    assert_eq!(
        e("{{if true}}{{$z := 1}}{{end}}{{$z}}", &c),
        r#"template: :1: undefined variable "$z""#
    );
}

#[test]
fn literals() {
    let d = json!({});
    assert_eq!(r(r#"{{"a\tb\u00e9\x41\101"}}"#, &d), "a\tbéAA");
    assert_eq!(r("{{`raw\\n`}}", &d), "raw\\n");
    assert_eq!(
        r(
            "{{1}} {{-2}} {{0x1F}} {{1_000}} {{1.5}} {{1e3}} {{'a'}} {{true}} {{nil | print}}",
            &d
        ),
        "1 -2 31 1000 1.5 1000 97 true <nil>"
    );
    assert_eq!(r("{{print nil}}", &d), "<nil>");
}

#[test]
fn trim_markers_and_comments() {
    let d = json!({"A": "x"});
    assert_eq!(r("a  {{- .A -}}  b", &d), "axb");
    assert_eq!(r("a \n\t{{- .A}} b", &d), "ax b");
    assert_eq!(r("a {{.A -}}\n\n b", &d), "a xb");
    assert_eq!(r("a {{/* a comment */}}b", &d), "a b");
    assert_eq!(r("a {{- /* trimmed */ -}} b", &d), "ab");
    // "-3" is a number, not a trim marker.
    assert_eq!(r("{{-3}}", &d), "-3");
    assert_eq!(r("{{range .A | len | print | len}}{{.}}{{end}}", &d), "0");
}

#[test]
fn define_template_block() {
    let d = json!({"A": "x", "B": {"C": "y"}});
    assert_eq!(
        r(
            r#"{{define "T"}}<{{.}}>{{end}}{{template "T" .A}}{{template "T" .B.C}}"#,
            &d
        ),
        "<x><y>"
    );
    assert_eq!(r(r#"{{block "B" .A}}[{{.}}]{{end}}"#, &d), "[x]");
    assert_eq!(
        r(r#"{{define "T"}}{{.}}{{end}}{{template "T"}}"#, &d),
        "<no value>"
    );
    assert_eq!(
        e(r#"{{template "nope"}}"#, &d),
        r#"template: :1:2: executing "" at <template "nope">: template "nope" not defined"#
    );
    assert_eq!(
        e(r#"{{define "T"}}{{.Zed}}{{end}}{{template "T" .}}"#, &d),
        r#"template: :1:16: executing "T" at <.Zed>: map has no entry for key "Zed""#
    );
}

#[test]
fn missing_keys() {
    let c = container();
    assert_eq!(
        e("{{.Foo}}", &c),
        r#"template: :1:2: executing "" at <.Foo>: map has no entry for key "Foo""#
    );
    assert_eq!(
        e("x\n  {{.State.Nope}}", &c),
        r#"template: :2:4: executing "" at <.State.Nope>: map has no entry for key "Nope""#
    );
    let t = Template::parse("{{.Foo}}|{{.Config.Labels.none}}")
        .expect("parses")
        .missing_key(MissingKey::NoValue);
    assert_eq!(t.execute(&c).expect("executes"), "<no value>|<no value>");
    assert_eq!(
        e("{{.Nothing.Foo}}", &c),
        r#"template: :1:2: executing "" at <.Nothing.Foo>: nil pointer evaluating interface {}.Foo"#
    );
    assert_eq!(
        e("{{.Name.Foo}}", &c),
        r#"template: :1:2: executing "" at <.Name.Foo>: can't evaluate field Foo in type string"#
    );
}

#[test]
fn parse_errors() {
    let d = json!({});
    assert_eq!(
        e("{{.ID}", &d),
        r#"template: :1: unexpected "}" in operand"#
    );
    assert_eq!(e("{{.ID", &d), "template: :1: unclosed action");
    assert_eq!(e("{{if .A}}x", &d), "template: :1: unexpected EOF");
    assert_eq!(e("x{{end}}", &d), "template: :1: unexpected {{end}}");
    assert_eq!(e("{{else}}", &d), "template: :1: unexpected {{else}}");
    assert_eq!(
        e("{{nosuch .A}}", &d),
        r#"template: :1: function "nosuch" not defined"#
    );
    assert_eq!(e("{{}}", &d), "template: :1: missing value for command");
    assert_eq!(
        e("a\nb\n{{\"abc}}", &d),
        "template: :3: unterminated quoted string"
    );
    assert_eq!(e("{{/* x }}", &d), "template: :1: unclosed comment");
    assert_eq!(
        e("{{break}}", &d),
        "template: :1: {{break}} outside {{range}}"
    );
    assert_eq!(
        e("{{.A | 1}}", &d),
        "template: :1: non executable command in pipeline stage 2"
    );
    assert_eq!(e("{{(.A}}", &d), "template: :1: unclosed left paren");
}

#[test]
fn exec_errors() {
    let c = container();
    assert_eq!(
        e(r#"{{join .Args}}"#, &c),
        r#"template: :1:2: executing "" at <join>: wrong number of args for join: want 2 got 1"#
    );
    assert_eq!(
        e("{{index .Args 5}}", &c),
        r#"template: :1:2: executing "" at <index .Args 5>: error calling index: index out of range: 5"#
    );
    assert_eq!(
        e("{{upper .State.Pid}}", &c),
        r#"template: :1:8: executing "" at <.State.Pid>: wrong type for value; expected string; got int"#
    );
    assert_eq!(
        e("{{range .Name}}{{end}}", &c),
        r#"template: :1:8: executing "" at <.Name>: range can't iterate over /web"#
    );
    assert_eq!(
        e("{{.Name 1}}", &c),
        r#"template: :1:2: executing "" at <.Name>: Name is not a method but has arguments"#
    );
    assert_eq!(
        e(r#"{{"x" 1}}"#, &c),
        r#"template: :1:2: executing "" at <"x">: can't give argument to non-function "x""#
    );
    assert_eq!(
        e("{{len 3}}", &c),
        r#"template: :1:2: executing "" at <len 3>: error calling len: len of type int"#
    );
    // Contexts longer than 20 characters are cut as Go cuts them.
    assert_eq!(
        e(r#"{{index .Config.Labels.tier 0 1 2}}"#, &c),
        r#"template: :1:2: executing "" at <index .Config.Labels...>: error calling index: can't index item of type int"#
    );
}

#[test]
fn tabwriter_alignment() {
    // Every column is at least 10 wide (padding included), else widest + 3.
    assert_eq!(align("A\tB\nx\ty\n"), "A         B\nx         y\n");
    assert_eq!(
        align("CONTAINER ID\tNAMES\nabc123def456\tweb\n"),
        "CONTAINER ID   NAMES\nabc123def456   web\n"
    );
    let got = align("NAME\tIMAGE\tSTATUS\nweb\tnginx:latest-alpine-very\tUp\n");
    let want = format!(
        "NAME{}IMAGE{}STATUS\nweb{}nginx:latest-alpine-very{}Up\n",
        " ".repeat(6),
        " ".repeat(22),
        " ".repeat(7),
        " ".repeat(3)
    );
    assert_eq!(got, want);
    // A line without tabs ends a column block: the blocks are sized separately.
    assert_eq!(
        align("a\tb\nno tabs on this line\nlonger-than-ten\td\n"),
        "a         b\nno tabs on this line\nlonger-than-ten   d\n"
    );
    // Width counts characters, not bytes; empty cells are padded too.
    assert_eq!(align("é\tx\n\ty\n"), "é         x\n          y\n");
    let custom = TabWriter {
        min_width: 0,
        padding: 1,
        pad_char: '.',
    };
    assert_eq!(custom.format("ab\tc\na\td"), "ab.c\na..d");
}

#[test]
fn docker_table_mode() {
    let rows = vec![
        json!({"ID": "4a5b6c7d8e9f", "Names": "web", "Status": "Up 2 minutes"}),
        json!({"ID": "0123456789ab", "Names": "database-primary", "Status": "Exited (0)"}),
    ];
    let hdr = headers(&[
        ("ID", "CONTAINER ID"),
        ("Names", "NAMES"),
        ("Status", "STATUS"),
    ]);
    // As a shell passes it: a backslash and a t.
    let got =
        render_table(r"table {{.ID}}\t{{.Names}}\t{{.Status}}", &rows, &hdr).expect("renders");
    let want = concat!(
        "CONTAINER ID   NAMES              STATUS\n",
        "4a5b6c7d8e9f   web                Up 2 minutes\n",
        "0123456789ab   database-primary   Exited (0)\n",
    );
    assert_eq!(got, want);
    // Header functions pass names through; unknown fields upper-case their name.
    let got = render_table("table {{.Names | upper}}\t{{json .Size}}", &rows[..1], &hdr);
    assert_eq!(
        got,
        Err(TemplateError::Exec {
            name: String::new(),
            line: 1,
            column: 26,
            template: String::new(),
            context: ".Size".into(),
            message: "map has no entry for key \"Size\"".into(),
        })
    );
    let got = render_table("table {{.Names | upper}}\t{{.Size}}", &[], &hdr).expect("renders");
    assert_eq!(got, "NAMES     SIZE\n");
    // Without `table`: rows only, each ending in a newline, no alignment.
    let got = render_table(r"{{.Names}}\t{{.Status}}", &rows, &hdr).expect("renders");
    assert_eq!(got, "web\tUp 2 minutes\ndatabase-primary\tExited (0)\n");
    assert_eq!(render_table("{{.Names}}", &[], &hdr).expect("renders"), "");
}

#[test]
fn template_reuse() {
    let t = Template::parse("{{.N}}-").expect("parses");
    let out: String = (1..=3)
        .map(|n| t.execute(&json!({ "N": n })).expect("executes"))
        .collect();
    assert_eq!(out, "1-2-3-");
    assert!(is_table("table {{.ID}}"));
    assert_eq!(row_format(r"table  {{.A}}\t{{.B}}\n "), "{{.A}}\t{{.B}}\n");
}

#[test]
fn declarations_in_controls_and_nesting() {
    let c = container();
    assert_eq!(r("{{if $x := .Name}}{{$x}}{{end}}", &c), "/web");
    assert_eq!(
        r("{{with $s := .State}}{{$s.Status}}/{{.Pid}}{{end}}", &c),
        "running/4242"
    );
    assert_eq!(
        r("{{len (index .Mounts 0)}} {{(index .Mounts 1).Source}}", &c),
        "2 /srv/b"
    );
    assert_eq!(
        r(r#"{{printf "%s" .Nothing}} {{.Ports}}"#, &c),
        "%!s(<nil>) map[]"
    );
    assert_eq!(
        r(
            "{{range .Config.Env}}{{$kv := split . \"=\"}}{{index $kv 0}};{{end}}",
            &c
        ),
        "A;B;"
    );
    assert_eq!(
        r("{{.State.Status | printf \"%s!\" | upper}}", &c),
        "RUNNING!"
    );
}
