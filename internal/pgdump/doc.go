// Package pgdump restores pg_dump's custom-format archives as they arrive:
// it walks an archive's table of contents and data blocks in a stream
// (archive.go), merges a dump's row-sized chunks into large ones
// (rechunk.go), and loads a dump that is still downloading with parallel
// pg_restore runs, building each table's indexes as soon as its data is in
// (parallel.go, postdata.go, growing.go). It exists so that a restore need
// not wait for the whole download: across a network, most of a restore's
// time. The postgres.restore step decides when to use it and what to
// restore; this package knows only the format and pg_restore.
package pgdump
