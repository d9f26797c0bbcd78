package pgdump

import (
	"bufio"
	"io"
)

// ArchiveBlocks walks a whole custom-format archive as a restore walks
// one that grows: where its TOC ends, how many entries the TOC has, the
// dump ids of its data blocks in order, and the offset where the walk
// ended.
func ArchiveBlocks(r io.Reader) (tocEnd int64, entries int, blocks []int, end int64, err error) {
	tocEnd, entries, end, err = walkArchive(r, func(id int) { blocks = append(blocks, id) })
	return tocEnd, entries, blocks, end, err
}

// walkArchive reads the head of the archive in r and then walks its
// blocks as a restore does, telling block the dump id of each.
func walkArchive(r io.Reader, block func(id int)) (tocEnd int64, entries int, end int64, err error) {
	a := &archiveReader{r: bufio.NewReader(r)}
	head, err := a.readHead()
	if err != nil {
		return 0, 0, a.off, err
	}
	err = a.blocks(head, func(id int, _ int64) bool { block(id); return true })
	return head.tocEnd, len(head.entries), a.off, err
}

// PostDataAsLoaded reads the head of the archive in r and loads the data
// entries loads in turn, as the early loaders of a parallel restore would:
// for each, the post-data entries it made ready to build then.
func PostDataAsLoaded(r io.Reader, loads []int) ([][]int, error) {
	head, err := (&archiveReader{r: bufio.NewReader(r)}).readHead()
	if err != nil {
		return nil, err
	}
	p := newPostData(head)
	var out [][]int
	for _, id := range loads {
		ready := p.load(id)
		p.done(ready)
		out = append(out, ready)
	}
	return out, nil
}
