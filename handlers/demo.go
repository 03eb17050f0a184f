package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"gatehouse/auth"
)

// DemoWeComCookie makes the demo treat this browser as the WeCom client (the web package's demo
// middleware swaps in a WeCom User-Agent while it is set).
const DemoWeComCookie = "gatehouse_demo_wecom"

func demoAsWeCom(r *http.Request) bool {
	c, err := r.Cookie(DemoWeComCookie)
	return err == nil && c.Value == "1"
}

// DemoWeComToggle switches the demo's "open as the WeCom client" mode on or off.
func (h *Handlers) DemoWeComToggle(c *gin.Context) {
	maxAge := -1
	if c.PostForm("on") == "1" {
		maxAge = 24 * 3600
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: DemoWeComCookie, Value: "1", Path: "/", MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	c.Redirect(http.StatusSeeOther, auth.SafeRedirect(c.PostForm("redirect"), "/"))
}
