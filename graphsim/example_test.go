package graphsim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
)

// A simulated tenant behind httptest, listed the way a Graph client would.
func Example() {
	now := time.Date(2026, 3, 15, 10, 20, 30, 0, time.UTC)
	sim := graphsim.New(graphsim.Config{Seed: 1, Now: func() time.Time { return now }})
	srv := httptest.NewServer(sim)
	defer srv.Close()

	// Follow @odata.nextLink to the end: a page may come back with no items
	// and a nextLink, as Graph's paging rules allow.
	var ids []string
	next := srv.URL + "/v1.0/communications/callRecords?$filter=startDateTime+ge+2026-03-14T00:00:00Z+and+startDateTime+lt+2026-03-15T00:00:00Z"
	for next != "" {
		req, _ := http.NewRequest(http.MethodGet, next, nil)
		req.Header.Set("Authorization", "Bearer any")
		resp, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		var page struct {
			Value []struct {
				ID string `json:"id"`
			} `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			fmt.Println(resp.StatusCode, err)
			return
		}
		for _, v := range page.Value {
			ids = append(ids, v.ID)
		}
		next = page.NextLink
	}
	truth := sim.Truth(time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC))
	slices.Sort(ids)
	fmt.Println(len(ids) == truth.Records, slices.Equal(ids, truth.IDs))
	// Output: true true
}
