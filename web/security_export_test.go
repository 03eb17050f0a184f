package web

import "github.com/gin-gonic/gin"

// RoutesForTest lists every route the server registers, so that the security suite covers each admin
// route and each POST route without a hand-kept list: a new route is tested the day it is added.
func (s *Server) RoutesForTest() gin.RoutesInfo { return s.routes().Routes() }
