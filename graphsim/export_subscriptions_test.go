package graphsim

import "time"

// SetSubscriptionTimeouts shortens the validation-handshake timeout
// (documented: 10 s) and the delivery timeout (documented: 3 s) of s, so
// tests of slow endpoints run quickly. Zero keeps the documented value.
func SetSubscriptionTimeouts(s *Simulator, validation, delivery time.Duration) {
	s.subs.mu.Lock()
	s.subs.validationTimeout = validation
	s.subs.deliveryTimeout = delivery
	s.subs.mu.Unlock()
}
