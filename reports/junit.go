package reports

import (
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/golive-dev/golive/scenarios/verdict"
)

// JUnit schema subset understood by Jenkins, GitLab and GitHub reporters.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// junitSkipped marks a threshold or check the run had too few events to
// judge: CI dashboards show it as neither passed nor failed.
type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnit is junit.xml: one testsuite per run (per profile when comparing),
// one testcase per threshold and per check; an inconclusive one is
// skipped with the reason. A reproduction's suite says "reproduces 2021:
// yes|no" in its verdict property and in its "reproduces 2021" testcase.
func JUnit(r *Run) ([]byte, error) {
	runs := r.Profiles
	if len(runs) == 0 {
		runs = []*Run{r}
	}
	doc := junitSuites{Name: "golive"}
	for _, run := range runs {
		s := run.Summary
		suite := junitSuite{
			Name: "golive." + strings.Trim(s.Scenario+"."+run.Name, "."),
			Time: fmt.Sprintf("%.3f", s.WallSeconds),
		}
		if !s.Started.IsZero() {
			suite.Timestamp = s.Started.UTC().Format("2006-01-02T15:04:05")
		}
		for _, p := range []junitProperty{
			{"scenario", s.Scenario}, {"profile", s.Profile}, {"target", s.Target},
			{"seed", fmt.Sprint(s.Seed)}, {"verdict", run.Verdict()}, {"reproduces", s.Reproduces},
		} {
			if p.Value != "" {
				suite.Properties = append(suite.Properties, p)
			}
		}
		for _, c := range run.Checks() {
			tc := junitCase{
				Name:      c.Name,
				ClassName: "golive." + run.Name + "." + c.Kind,
				Time:      "0",
				SystemOut: fmt.Sprintf("measured: %s; scope: %s", orDash(c.Value), orDash(c.Scope)),
			}
			switch c.Result() {
			case verdict.Fail:
				tc.Failure = &junitFailure{Message: c.Message, Type: c.Kind, Text: fmt.Sprintf("%s failed\nmeasured: %s\n%s", c.Name, orDash(c.Value), c.Message)}
				suite.Failures++
			case verdict.Inconclusive:
				tc.Skipped = &junitSkipped{Message: "inconclusive: " + c.Message}
				suite.Skipped++
			}
			suite.Cases = append(suite.Cases, tc)
		}
		suite.Tests = len(suite.Cases)
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Skipped += suite.Skipped
		doc.Suites = append(doc.Suites, suite)
	}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", JUnitFile, err)
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}
