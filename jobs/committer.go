package jobs

// committer commits partitions in the background while the caller writes
// the next one: the Graph run's days and import's chunks alike. Commits run
// one at a time, in the order started. A large partition is not overlapped
// with another (memory stays that of one), nor is a partition with the
// commit of its own date (it is read back once committed).
type committer struct {
	running chan error // the outcome of the commit running, if any
	date    string     // its partition's date
	large   bool       // whether its partition is large
}

// ready waits, if need be, before a partition of date is written: for the
// commit running if it is of the same date or if either partition is large.
// It returns the error of a commit it waited for.
func (c *committer) ready(date string, large bool) error {
	if c.running != nil && (c.date == date || c.large || large) {
		return c.wait()
	}
	return nil
}

// start waits for the commit running, then runs commit in the background in
// its place. If the commit waited for failed, it returns that error and
// commit does not run.
func (c *committer) start(date string, large bool, commit func() error) error {
	if err := c.wait(); err != nil {
		return err
	}
	done := make(chan error, 1)
	c.running, c.date, c.large = done, date, large
	go func() { done <- commit() }()
	return nil
}

// wait waits for the commit running, if any, and returns its error.
func (c *committer) wait() error {
	if c.running == nil {
		return nil
	}
	err := <-c.running
	c.running = nil
	return err
}
