package api

import (
	"bytes"
	"net/http/httptest"
	"reflect"
	"testing"
)

// requestBodies are the JSON bodies the API decodes (decode: size limit,
// unknown fields, one value, NUL bytes, validation), besides the submissions
// FuzzSubmitBody and FuzzSubmitBatch cover.
var requestBodies = []any{
	cancelsRequest{}, compatSubmit{}, compatRunnerCheckIn{}, compatJobDone{}, integrationCreate{}, integrationUpdate{},
	testStatus{}, secretPut{}, notificationCreate{}, notificationUpdate{}, projectCreate{}, projectUpdate{},
	claimRequest{}, heartbeatRequest{}, jobComplete{}, runnerCreate{}, scheduleCreate{}, scheduleUpdate{}, scheduleRun{},
	integrationRun{}, tokenCreate{}, signInRequest{}, userCreateRequest{}, userUpdateRequest{}, invitationUseRequest{},
	memberPutRequest{}, personalTokenRequest{},
}

// FuzzRequestBodies decodes any body as each of the API's request types: a
// refusal is always a 4xx in plain words (never a 500 or a panic in the
// validator), and a body that passes holds no NUL byte.
func FuzzRequestBodies(f *testing.F) {
	for i, s := range []string{
		`{"name":"nightly","cron":"0 2 * * *","timezone":"Europe/Berlin","jobs":[{"name":"b","cmd":"make","tag":"t"}]}`,
		`{"kind":"gitea","repository":"o/r","apiUrl":"https://git.example","token":"t","events":["push"],"jobs":[]}`,
		`{"slug":"p","name":"P","private":true}`, `{"tags":["linux"],"waitSeconds":30}`, `{"exitCode":0,"status":"succeeded"}`,
		`{"url":"http://127.0.0.1/hook","events":["failed"],"secret":"\u0000"}`, `{"login":"a","password":"b"}`,
		`{"role":"admin","expiresInDays":-1}`, `{"value":"` + string(bytes.Repeat([]byte("x"), 100)) + `"}`, `{"ids":[1,2,3],"reason":"x"}`,
		`null`, `[]`, `{}`, `{"a":1}{}`, `{"name":1e999}`,
	} {
		f.Add(uint8(i), []byte(s))
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		typ := reflect.TypeOf(requestBodies[int(kind)%len(requestBodies)])
		dst := reflect.New(typ).Interface()
		req := httptest.NewRequest("POST", "/api/v1/x", bytes.NewReader(body))
		err := decode(httptest.NewRecorder(), req, dst)
		if err != nil {
			checkAnswer(t, err)
			return
		}
		if err := checkNUL(dst); err != nil {
			t.Fatalf("%s passed with a NUL byte", typ)
		}
	})
}
