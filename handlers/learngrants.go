package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"dosignin/handlers/learn"
)

// The learn pages of the grants "An Introduction to OAuth 2" describes
// beside the authorization code, which DigitalOcean does not offer: the
// device code and client credentials grants, which only the sandbox
// offers and so only sandbox mode shows working, and the implicit grant,
// which RFC 9700 retires and nobody offers here.

// Device code (RFC 8628).

type learnDevicePage struct {
	learnBase
	Start   learn.Request  // the device authorization request
	Device  *learnDevice   // what it answered, as the device keeps it
	Poll    *learn.Request // the device's poll
	Started *learn.Answer  // the device authorization's answer, after "Start"
	Polled  *learn.Answer  // the last poll's answer, after "Poll"
	Expired bool           // the codes have expired
	Fields  []learn.Param
}

// handleLearnDevicePage serves GET /learn/device: the device grant, which
// DigitalOcean does not offer, step by step against the sandbox.
func (s *Server) handleLearnDevicePage(c echo.Context) error {
	data := learnDevicePage{learnBase: s.learnBase("/learn/device"), Fields: learn.DeviceFields()}
	if s.learn != nil {
		st := s.loadLearn(c.Request())
		data.Start = s.learn.DeviceAuthorization()
		if d := st.Device; d != nil {
			poll := s.learn.DevicePoll(d.DeviceCode)
			data.Device, data.Poll, data.Expired = d, &poll, !s.now().Before(d.Expires)
		}
		if r := st.lastFor(learnDidDeviceStart); r != nil {
			data.Started = r.Answer
		}
		if r := st.lastFor(learnDidDevicePoll); r != nil {
			data.Polled = r.Answer
		}
	}
	return s.learnRender(c, "learn_device", "The device code grant (sandbox only)", data)
}

// handleLearnDeviceStart serves POST /learn/device/start: the pretend
// device asks the sandbox for its codes.
func (s *Server) handleLearnDeviceStart(c echo.Context) error {
	if err := s.learnOnly(); err != nil {
		return err
	}
	st := s.loadLearn(c.Request())
	a := s.learn.SendOnce(c.Request().Context(), learnDidDeviceStart, s.learn.DeviceAuthorization(), learn.ShareFor)
	if dc := bounded(a.Get("device_code")); a.OK() && dc != "" {
		st.Device = &learnDevice{
			DeviceCode:      dc,
			UserCode:        bounded(a.Get("user_code")),
			VerificationURI: bounded(a.Get("verification_uri")),
			Complete:        bounded(a.Get("verification_uri_complete")),
			Interval:        a.Int("interval"),
			Expires:         s.now().Add(time.Duration(a.Int("expires_in")) * time.Second),
		}
	}
	st.Last = &learnResult{For: learnDidDeviceStart, Answer: &a}
	if err := s.saveLearn(c, st); err != nil {
		return err
	}
	return seeOther(c, "/learn/device")
}

// handleLearnDevicePoll serves POST /learn/device/poll, "Poll": one poll
// of the token endpoint, as the device makes every interval seconds. A
// double click polls once; pressing again sooner than the interval gets
// the sandbox's slow_down, which is the point.
func (s *Server) handleLearnDevicePoll(c echo.Context) error {
	if err := s.learnOnly(); err != nil {
		return err
	}
	st := s.loadLearn(c.Request())
	d := st.Device
	if d == nil || d.Done {
		return seeOther(c, "/learn/device")
	}
	a := s.learn.SendOnce(c.Request().Context(), learnDidDevicePoll, s.learn.DevicePoll(d.DeviceCode), 0)
	d.Polls++
	switch a.Error() {
	case "authorization_pending", "slow_down":
	default: // the tokens, access_denied, expired_token: polling is over
		d.Done = a.Status != 0
	}
	st.Last = &learnResult{For: learnDidDevicePoll, Answer: &a}
	if err := s.saveLearn(c, st); err != nil {
		return err
	}
	return seeOther(c, "/learn/device#poll")
}

// Client credentials (RFC 6749 §4.4).

type learnAppPage struct {
	learnBase
	Request       learn.Request
	Answer        *learn.Answer   // after "Ask for a token"
	Proofs        []learnExchange // the API, asked with the token
	PublicRequest learn.Request
	PublicAnswer  *learn.Answer // after "Ask as a public client"
	Fields        []learn.Param
}

// handleLearnAppPage serves GET /learn/client-credentials: the
// client-credentials grant, which DigitalOcean does not offer, against
// the sandbox, and the API's answers to its token.
func (s *Server) handleLearnAppPage(c echo.Context) error {
	data := learnAppPage{learnBase: s.learnBase("/learn/client-credentials"), Fields: learn.ClientCredentialsFields()}
	if s.learn != nil {
		st := s.loadLearn(c.Request())
		data.Request = s.learn.ClientCredentials(learn.ClientID, true)
		data.PublicRequest = s.learn.ClientCredentials(learn.PublicClientID, false)
		if r := st.lastFor(learnDidAppToken); r != nil {
			data.Answer = r.Answer
			if st.App != nil {
				for _, path := range []string{"/v2/account", "/v2/droplets"} {
					data.Proofs = append(data.Proofs, *s.learnRead(c, path, st.App.Access))
				}
			}
		}
		if r := st.lastFor(learnDidPublicAppAuth); r != nil {
			data.PublicAnswer = r.Answer
		}
	}
	return s.learnRender(c, "learn_client_credentials", "The client credentials grant (sandbox only)", data)
}

// handleLearnAppToken serves POST /learn/client-credentials, "Ask for a
// token": the learn client's credentials for a token of its own.
func (s *Server) handleLearnAppToken(c echo.Context) error {
	if err := s.learnOnly(); err != nil {
		return err
	}
	st := s.loadLearn(c.Request())
	a := s.learn.SendOnce(c.Request().Context(), learnDidAppToken, s.learn.ClientCredentials(learn.ClientID, true), learn.ShareFor)
	st.App = nil
	if a.Issued() {
		st.App = &learnApp{Access: bounded(a.Get("access_token"))}
	}
	st.Last = &learnResult{For: learnDidAppToken, Answer: &a}
	if err := s.saveLearn(c, st); err != nil {
		return err
	}
	return seeOther(c, "/learn/client-credentials")
}

// handleLearnAppPublic serves POST /learn/client-credentials/public, "Ask
// as a public client": the same request from a client with no secret,
// which the sandbox refuses.
func (s *Server) handleLearnAppPublic(c echo.Context) error {
	if err := s.learnOnly(); err != nil {
		return err
	}
	st := s.loadLearn(c.Request())
	a := s.learn.SendOnce(c.Request().Context(), learnDidPublicAppAuth, s.learn.ClientCredentials(learn.PublicClientID, false), learn.ShareFor)
	st.Last = &learnResult{For: learnDidPublicAppAuth, Answer: &a}
	if err := s.saveLearn(c, st); err != nil {
		return err
	}
	return seeOther(c, "/learn/client-credentials#public")
}

// The implicit grant.

// handleLearnImplicit serves GET /learn/implicit: the implicit grant,
// explained and not offered.
func (s *Server) handleLearnImplicit(c echo.Context) error {
	return s.render(c, http.StatusOK, "learn_implicit", "The implicit grant (not offered)", nil, s.learnBase("/learn/implicit"))
}
