package graphsim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
)

// A simulated tenant behind httptest, listed the way a Graph client would.
func Example() {
	now := time.Date(2026, 3, 15, 10, 20, 30, 0, time.UTC)
	sim := graphsim.New(graphsim.Config{Seed: 1, Now: func() time.Time { return now }})
	srv := httptest.NewServer(sim)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1.0/communications/callRecords?$filter=startDateTime+ge+2026-03-14T00:00:00Z+and+startDateTime+lt+2026-03-15T00:00:00Z", nil)
	req.Header.Set("Authorization", "Bearer any")
	resp, err := srv.Client().Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var page struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
		NextLink string `json:"@odata.nextLink"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		fmt.Println(err)
		return
	}
	truth := sim.Truth(time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC))
	fmt.Println(resp.StatusCode, len(page.Value) == truth.Records, page.NextLink == "")
	// Output: 200 true true
}
