// @placeholder A a
/*{{A*/x/*}}*//*{{A*//*}}*/
