# An independent implementation of session placement (src/routing/placement.h and the hash of
# src/internal/hash.h), which computed the pins of tests/placement_test.cpp: run it with python3.
M=(1<<64)-1
def mulfold(a,b):
    p=(a&M)*(b&M); return (p&M)^(p>>64)
def h(s, seed):
    k0,k1,k2=0xa0761d6478bd642f,0xe7037ed1a0b428db,0x8ebc6af09c88c6e3
    b=s.encode(); n=len(b); p=0
    hh=seed^mulfold(n^k0, seed^k1)
    l64=lambda i:int.from_bytes(b[i:i+8],'little'); l32=lambda i:int.from_bytes(b[i:i+4],'little')
    while n>16:
        hh=mulfold(l64(p)^k1, l64(p+8)^hh); p+=16; n-=16
    a=c=0
    if n>=8: a=l64(p); c=l64(p+n-8)
    elif n>=4: a=l32(p); c=l32(p+n-4)
    elif n>0: a=b[p]<<16 | b[p+n//2]<<8 | b[p+n-1]
    return mulfold(mulfold(a^k1, c^hh)^k2, len(b)^k0)
seed=0x61757468726f7574
ids=["c0%d"%i for i in range(10)]
out=[]
for i in range(8):
    key="claude::header:conversation-%d::m"%i
    kh=h(key,seed)
    best=max(ids,key=lambda cid: mulfold(kh^h(cid,seed),0x8ebc6af09c88c6e3))
    out.append(best)
print(" ".join(out)+" ")
