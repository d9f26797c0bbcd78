package pgdump

import "sync"

// A table loaded while the download goes on need not wait for the download
// to end to get its indexes: pg_restore -j builds each table's as soon as
// its data is in, and so does a restore that loads while it downloads.
// Across a real network the download is most of a restore, and its CPU is
// mostly idle; building indexes then takes that much off the end.
//
// Only what depends on nothing but the schema and the tables already
// loaded is built early, judged by the dependencies pg_dump records in the
// TOC, as pg_restore -j judges them: indexes, and constraints of one table
// (primary keys, unique and exclusion constraints, and check constraints
// dumped apart from their table). A foreign key is left to the end, as
// older pg_dumps do not record its dependency on the referenced table's
// key; so is everything else of the post-data section (triggers, rules,
// policies, materialized views' data, indexes attached to a partitioned
// one).
var earlyKinds = map[string]bool{"INDEX": true, "CONSTRAINT": true, "CHECK CONSTRAINT": true}

// postData follows what of the post-data section is ready to be built
// while a restore loads tables as they arrive. It is safe for concurrent
// use.
type postData struct {
	head   *archiveHead
	dataOf map[int]int // a table's entry → its data's entry
	// candidates are the post-data entries of the kinds built early, in
	// TOC order: a load looks through these, not through the whole TOC,
	// whose schema part is most of it.
	candidates []archiveEntry

	mu     sync.Mutex
	loaded map[int]bool // data entries loaded
	taken  map[int]bool // post-data entries handed out to be built
	built  map[int]bool // and of those, the ones built
}

func newPostData(head *archiveHead) *postData {
	p := &postData{head: head, dataOf: map[int]int{},
		loaded: map[int]bool{}, taken: map[int]bool{}, built: map[int]bool{}}
	for _, e := range head.entries {
		switch {
		case e.desc == "TABLE DATA":
			for _, d := range e.deps {
				p.dataOf[d] = e.id
			}
		case e.section == sectionPostData && earlyKinds[e.desc]:
			p.candidates = append(p.candidates, e)
		}
	}
	return p
}

// load records that the data of entry id is in, and hands out the
// post-data entries now ready, in TOC order, which is an order their
// dependencies allow: the caller builds them in that order, then calls
// done.
func (p *postData) load(id int) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loaded[id] = true
	var ready []int
	batch := map[int]bool{}
	for _, e := range p.candidates {
		if !p.taken[e.id] && p.ready(e, batch) {
			p.taken[e.id], batch[e.id] = true, true
			ready = append(ready, e.id)
		}
	}
	return ready
}

// done records that entries ids were built.
func (p *postData) done(ids []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.built[id] = true
	}
}

// ready says whether everything e depends on is in: the schema was
// created before any data; a table's data must be loaded, and a post-data
// entry built, or be built before e in the same batch.
func (p *postData) ready(e archiveEntry, batch map[int]bool) bool {
	for _, d := range e.deps {
		dep, known := p.head.byID[d]
		data, isTable := p.dataOf[d]
		switch {
		case !known:
			return false // not in this archive: pg_restore judges it at the end
		case dep.desc == "TABLE DATA":
			if !p.loaded[d] {
				return false
			}
		case isTable:
			if !p.loaded[data] {
				return false
			}
		case dep.section == sectionPostData:
			if !p.built[d] && !batch[d] {
				return false
			}
		case dep.section == sectionData:
			return false // data other than a table's is loaded at the end
		}
	}
	return true
}

// builtEarly is every post-data entry built early, in TOC order.
func (p *postData) builtEarly() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []int
	for _, e := range p.candidates {
		if p.built[e.id] {
			ids = append(ids, e.id)
		}
	}
	return ids
}
