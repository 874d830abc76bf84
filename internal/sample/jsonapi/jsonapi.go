// Package jsonapi holds the JSON plumbing the sample APIs share: writing
// a JSON answer and decoding a bounded JSON body. Each API keeps its own
// error bodies and limits, which differ on purpose.
package jsonapi

import (
	"encoding/json"
	"net/http"
)

// Write answers status with v encoded as JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Decode reads r's JSON body of at most limit bytes into v.
func Decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	return json.NewDecoder(http.MaxBytesReader(w, r.Body, limit)).Decode(v)
}
