package dpoptest

import "testing"

// ProofBatches hands a benchmark a fresh proof per iteration (a verifier
// refuses a replayed one) and makes them in batches of 512 with the timer
// stopped, so the benchmark does its work once per iteration for any
// -benchtime; a fixed pool would end the work early while the timer still
// divides by b.N.
type ProofBatches struct {
	Make  func() (string, error)
	batch []string
}

// Next returns the next unused proof.
func (p *ProofBatches) Next(b *testing.B) string {
	if len(p.batch) == 0 {
		b.StopTimer()
		p.batch = make([]string, 512)
		for i := range p.batch {
			var err error
			if p.batch[i], err = p.Make(); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	proof := p.batch[0]
	p.batch = p.batch[1:]
	return proof
}
