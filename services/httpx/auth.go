package httpx

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// RequireBearer wraps next so that every request must carry `Authorization: Bearer <token>`
// equal to token; otherwise it answers 401 with a problem and WWW-Authenticate.
func RequireBearer(token string, next http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ledgerdesk"`)
			detail := "missing bearer token"
			if ok {
				detail = "invalid bearer token"
			}
			WriteProblem(w, NewProblem(http.StatusUnauthorized, KindUnauthorized, "Unauthorized", detail))
			return
		}
		next.ServeHTTP(w, r)
	})
}
