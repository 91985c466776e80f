/** The test-only validator must itself reject what Prometheus rejects, or the metrics tests prove nothing. */
import { expect, test } from "bun:test";
import { parseExposition } from "./exposition.ts";

const OK = "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"1\"} 3\na_total{x=\"2\"} 4.5e3\n# HELP g A gauge.\n# TYPE g gauge\ng -Inf\n";

test("a valid exposition parses, with values to look up", () => {
  const e = parseExposition(OK);
  expect(e.value("a_total", { x: "1" })).toBe(3);
  expect(e.value("a_total", { x: "2" })).toBe(4500);
  expect(e.value("g")).toBe(Number.NEGATIVE_INFINITY);
  expect(e.families.get("a_total")).toEqual({ type: "counter", help: "Things." });
  expect(parseExposition('# HELP h Esc \\\\ and \\n.\n# TYPE h gauge\nh{l="a\\"b\\\\c\\nd",} NaN 1700000000000\n').samples).toEqual([
    { name: "h", labels: { l: 'a"b\\c\nd' }, value: Number.NaN },
  ]);
});

test.each<[string, string, string]>([
  ["no final line feed", OK.slice(0, -1), "line feed"],
  ["sample before HELP/TYPE", "a_total 1\n", "before its HELP and TYPE"],
  ["TYPE after samples", "# HELP g x\n# TYPE g gauge\ng 1\n# TYPE g gauge\n", "TYPE for g after its samples"],
  ["HELP after samples", "# HELP g x\n# TYPE g gauge\ng 1\n# HELP g y\n", "HELP for g after its samples"],
  ["second TYPE", "# HELP g x\n# TYPE g gauge\n# TYPE g gauge\ng 1\n", "second TYPE"],
  ["TYPE without HELP", "# TYPE g gauge\ng 1\n", "before its HELP and TYPE"],
  ["second HELP", "# HELP g x\n# HELP g y\n# TYPE g gauge\ng 1\n", "second HELP"],
  ["unknown type", "# HELP g x\n# TYPE g meter\ng 1\n", "bad type"],
  ["counter without _total", "# HELP c x\n# TYPE c counter\nc 1\n", "does not end in _total"],
  ["negative counter", "# HELP c_total x\n# TYPE c_total counter\nc_total -1\n", "counter c_total is -1"],
  ["bad metric name", "# HELP 1g x\n", "bad metric name"],
  ["bad sample name", "# HELP g x\n# TYPE g gauge\ng-x 1\n", "bad metric name"],
  ["bad label name", '# HELP g x\n# TYPE g gauge\ng{1a="x"} 1\n', "bad label name"],
  ["repeated label", '# HELP g x\n# TYPE g gauge\ng{a="x",a="y"} 1\n', "repeated label"],
  ["unquoted label value", "# HELP g x\n# TYPE g gauge\ng{a=x} 1\n", 'expected ="'],
  ["bad escape in a label value", '# HELP g x\n# TYPE g gauge\ng{a="\\t"} 1\n', "bad escape"],
  ["raw quote ends the value early", '# HELP g x\n# TYPE g gauge\ng{a="x"y"} 1\n', "expected , or }"],
  ["unterminated labels", '# HELP g x\n# TYPE g gauge\ng{a="x" 1\n', "expected , or }"],
  ["bad escape in HELP", "# HELP g a \\t b\n# TYPE g gauge\ng 1\n", "HELP: bad escape"],
  ["no value", "# HELP g x\n# TYPE g gauge\ng\n", "value [timestamp]"],
  ["not a float", "# HELP g x\n# TYPE g gauge\ng one\n", "bad value"],
  ["float with junk", "# HELP g x\n# TYPE g gauge\ng 1.2.3\n", "bad value"],
  ["fractional timestamp", "# HELP g x\n# TYPE g gauge\ng 1 1.5\n", "value [timestamp]"],
  ["duplicate series", '# HELP g x\n# TYPE g gauge\ng{a="1"} 1\ng{a="1"} 2\n', "duplicate series"],
  ["family not contiguous", "# HELP g x\n# TYPE g gauge\ng 1\n# HELP h x\n# TYPE h gauge\nh 1\ng 2\n", "not contiguous"],
])("rejects: %s", (_title, text, message) => {
  expect(() => parseExposition(text)).toThrow(message);
});
