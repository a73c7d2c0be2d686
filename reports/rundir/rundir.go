// Package rundir owns the run directory (docs/run-format.md): the file
// names, the Go types of summary.json, events.json, timeseries.csv,
// metrics.csv, histogram.hdr and capacity.json, their writers and readers,
// the summary's schema version, and the one definition of the rates a run
// reports (offered load and goodput, both per wall second).
//
// The engine and the load generator write through it; reports, thresholds,
// the gate and the synthetic-run generator read through it, so the writer
// and every reader agree on one format. It is a leaf: it imports no golive
// code but the leaf scenarios/verdict (the verdict vocabulary whose keys
// summary.json carries), so a reader of run directories links no issuer code.
package rundir

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// File names inside a run directory.
const (
	SummaryFile    = "summary.json"
	TimeseriesFile = "timeseries.csv"
	EventsFile     = "events.json"
	MetricsFile    = "metrics.csv"
	HistogramFile  = "histogram.hdr"
	CapacityFile   = "capacity.json"
	// ResultsFile and MetaFile are loadgen's raw attempts (vegeta's gob
	// format and golive's extra fields); loadgen reads and writes them.
	ResultsFile = "results.gob"
	MetaFile    = "results.meta.csv"
)

// Schema names and versions summary.json. A reader accepts every minor
// version of its major (minor versions only add keys) and refuses a newer
// major, whose keys may mean something else.
const (
	SchemaName  = "golive.summary"
	SchemaMajor = 1
	// Schema is what this golive writes: v1.1 added the rates' unit and
	// count, goodput_classes and timeseries.csv's delivered, deferrals and
	// accepted; v1.2 added browsers (the browser journeys) and cost.
	Schema = "golive.summary/v1.2"
)

// ErrSchema is what errors.Is finds in the error for a summary.json of
// another schema or a newer major version.
var ErrSchema = errors.New("unsupported schema")

// schemaError is one line saying what is wrong and what to do.
type schemaError struct{ msg string }

func (e *schemaError) Error() string { return e.msg }
func (e *schemaError) Unwrap() error { return ErrSchema }

func schemaErrorf(format string, a ...any) error { return &schemaError{fmt.Sprintf(format, a...)} }

// CheckSchema accepts "golive.summary/vMAJOR[.MINOR]" of a major this
// package understands; an absent schema is an early v1 file. file names
// the file in the error.
func CheckSchema(file, schema string) error {
	if schema == "" {
		return nil
	}
	major, _, err := ParseSchema(schema)
	if err != nil {
		return schemaErrorf("%s: %v", file, err)
	}
	if major > SchemaMajor {
		return schemaErrorf("%s: schema %s is newer than this golive understands (v%d); upgrade golive", file, schema, SchemaMajor)
	}
	if major < 1 {
		return schemaErrorf("%s: schema %s has no major version 0", file, schema)
	}
	return nil
}

// ParseSchema splits "golive.summary/v1.1" into its major and minor version.
func ParseSchema(schema string) (major, minor int, err error) {
	name, ver, ok := strings.Cut(schema, "/v")
	if !ok || name != SchemaName {
		return 0, 0, schemaErrorf("schema %q is not %s/vN", schema, SchemaName)
	}
	ma, mi, hasMinor := strings.Cut(ver, ".")
	if major, err = strconv.Atoi(ma); err != nil || major < 0 {
		return 0, 0, schemaErrorf("schema %q has a bad major version", schema)
	}
	if hasMinor {
		if minor, err = strconv.Atoi(mi); err != nil || minor < 0 {
			return 0, 0, schemaErrorf("schema %q has a bad minor version", schema)
		}
	}
	return major, minor, nil
}
