.text
ldxr x0,[x1]; ldxrb w0,[x1]; ldxrh w0,[x1]; ldaxr w0,[x1]; stxr w2,x0,[x1]; stlxr w2,x0,[x1]; stxrb w2,w0,[x1]
ldxp x0,x3,[x1]; ldaxp w0,w3,[x1]; stxp w2,x0,x3,[x1]; stlxp w2,w0,w3,[x1]
ldar x0,[x1]; ldarb w0,[x1]; stlr x0,[x1]; stlrh w0,[x1]; ldlar x0,[x1]; stllr x0,[x1]
cas x0,x2,[x1]; casal w0,w2,[x1]; casb w0,w2,[x1]; caslh w0,w2,[x1]; casp x0,x1,x2,x3,[x4]; caspal w0,w1,w2,w3,[x4]
ldadd x0,x2,[x1]; ldaddal w0,w2,[x1]; ldaddb w0,w2,[x1]; stadd x0,[x1]; ldclral x0,x2,[x1]; ldeor x0,x2,[x1]; ldset x0,x2,[x1]
ldsmax x0,x2,[x1]; ldumin w0,w2,[x1]; stumaxl x0,[x1]; swp x0,x2,[x1]; swpal w0,w2,[x1]; swpb w0,w2,[x1]
ldapr x0,[x1]; ldaprb w0,[x1]; ldapur x0,[x1,#8]; stlur x0,[x1,#8]
ldr x0,[x1]; str x0,[x1]; ldp x0,x2,[x1]; stp x0,x2,[x1]; ldr q0,[x1]; prfm pldl1keep,[x1]; hint #126; hint #127
